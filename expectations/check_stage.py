"""The check stage of a nightly run: the submission checks (`expectations.submission.check_batch`) over every
new file the read stage read, kind by kind, one read batch at a time. Its verdicts (the rows to quarantine,
with reasons, and the rows' warnings) and check results go to the run's work folder for the load stage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from expectations.submission import check_batch
from foundation.config import SUBMISSION_KINDS, Settings
from foundation.workdir import WorkDir
from ingestion.stages import row_batches


@dataclass
class CheckSummary:
    checks: int  # check results (rules per kind)
    failed: int  # of them failed
    rows_quarantined: int  # rows that the load stage will quarantine


def check(settings: Settings, run_id: str) -> CheckSummary:
    """Run the submission checks over all new files, kind by kind, one read batch at a time."""
    work = WorkDir(settings, run_id)
    outcomes = work.read_json("read.json", [])
    verdicts: dict[str, dict] = {}
    results = []
    for kind in SUBMISSION_KINDS:
        readable = [o for o in outcomes if o["status"] == "read" and o["kind"] == kind]
        cell_errors = {(o["submission_id"], int(r)): errs for o in readable
                       for r, errs in o["cell_errors"].items()}
        outcome = check_batch(kind, row_batches(work, kind), cell_errors, settings.gx_dir)
        for o in readable:
            verdicts[o["submission_id"]] = {"quarantined": {}, "row_warnings": {}, "rules": {}}
        for (sid, row), reasons in outcome.reasons.items():
            verdicts[sid]["quarantined"][str(row)] = reasons
            verdicts[sid]["rules"][str(row)] = outcome.rules.get((sid, row), [])
        for (sid, row), reasons in outcome.warnings.items():
            verdicts[sid]["row_warnings"][str(row)] = reasons
        results += [asdict(r) for r in outcome.results]
    work.write_json("checks.json", {"verdicts": verdicts, "results": results})
    failed = sum(1 for r in results if r["status"] == "fail")
    return CheckSummary(checks=len(results), failed=failed,
                        rows_quarantined=sum(len(v["quarantined"]) for v in verdicts.values()))
