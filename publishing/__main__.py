"""`python -m publishing rollback | publications`: put the previous publication of reporting.duckdb back, or
list the kept ones (publishing/retention.py, publishing/rollback.py). Exit status 1 when there is nothing to roll
back to, when the PostgreSQL target cannot be switched to it (then nothing is rolled back), or a run holds the
warehouse lock for longer than PREFAB_WRITER_WAIT_SECONDS."""

from __future__ import annotations

import argparse
import sys

from foundation.config import settings
from foundation.lock import WarehouseBusy
from publishing.retention import kept, publication_facts, rolled_back_entries
from publishing.rollback import NothingToRollBack, RollbackRefused, rollback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m publishing", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("rollback", help="回滚到上一次发布: swap the previous kept publication into place")
    commands.add_parser("publications", help="保留的发布: the kept publications, newest last")
    args = parser.parse_args(argv)
    s = settings()
    if args.command == "publications":
        undone = {e["publication_id"] for e in rolled_back_entries(s)}
        for publication_id, path in kept(s):
            note = " (已回滚 rolled back)" if publication_id in undone else ""
            print(f"{publication_id}\t{path}{note}")
        return 0
    try:
        done = rollback(s)
    except (NothingToRollBack, RollbackRefused, WarehouseBusy) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    live, _ = publication_facts(s.reporting_path)
    print(f"已回滚到发布 {done.to_publication_id}: rolled back to publication {done.to_publication_id} "
          f"(from {done.from_publication_id if done.from_publication_id is not None else 'a damaged file'}); "
          f"{done.path} now holds publication {live}. The next run does not publish the rolled-back figures "
          "again until the data or a model changes.")
    if done.postgres:
        print(done.postgres)
    return 0


if __name__ == "__main__":
    sys.exit(main())
