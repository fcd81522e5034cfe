"""The archive as the source of a rebuild: what each archived copy was when it landed, and the archived files
the ledger does not know.

Beside each copy `<archive>/<sha[:2]>/<sha>/<file name>` the archive keeps a small manifest,
`.<file name>.landed.json`: every landing of those bytes under that name (kind, landing path, file name,
sha256, size, received_at, and the problem found when it landed), written atomically after the copy. With it,
a warehouse lost while the landing zone was emptied (the files are only in the archive) is rebuilt exactly:
discover takes the archived files the ledger does not know, with their original landing path (so the same
submission ids), kind and received_at (so the same file wins each slice), and the rebuilt warehouse publishes
the same figures.

Copies archived before these manifests existed are recovered from what the archive itself says: the file
name (the copy's name); the kind from the name's period grain (a month is `buildings`; a year is
`production_bases` if the file reads as a base registry, else `targets`); the landing path
`<kind>/<file name>`; and received_at the copy's modification time (when the run that first saw it archived
it: in received order, so the latest file of a slice still wins). The ledger warning of such a file says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path

from foundation.bilingual import join
from ingestion.archive import sidecar_path
from ingestion.discover import LandedFile, sha256_of

RECOVERED = ("从存档恢复（接收区中已无此文件）", "recovered from the archive (the landing zone no longer holds it)")
GUESSED = ("；存档时还没有收件清单，所以报表类别（{kind}，由文件名推断）、接收路径（{landing_path}）和收件时间"
           "（存档副本的时间 {received_at}）均为推断，并非记录",
           "; archived before landing manifests were kept, so its kind ({kind}, from the file name), landing path "
           "({landing_path}) and received_at (the archive copy's time, {received_at}) are inferred, not recorded")


def _from_json(item: dict) -> LandedFile:
    names = {f.name for f in fields(LandedFile)}
    return LandedFile(**{k: v for k, v in item.items() if k in names}
                      | {"received_at": datetime.fromisoformat(item["received_at"])})


def _guess(copy: Path) -> tuple[LandedFile, str]:
    """A landing of an archived copy that has no manifest, from what can be recovered; and the warning."""
    from ingestion.errors import RejectedFile
    from ingestion.naming import parse_file_name
    from ingestion.read import read_submission

    name = copy.name
    kind = "buildings"
    try:
        parse_file_name("buildings", name)
    except RejectedFile:
        try:
            read_submission(copy, "production_bases", raw=False)
            kind = "production_bases"
        except RejectedFile:
            kind = "targets"
    stat = copy.stat()
    received = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
    landed = LandedFile(kind, f"{kind}/{name}", name, copy.parent.name, stat.st_size, received)
    values = {"kind": kind, "landing_path": landed.landing_path, "received_at": received.isoformat()}
    return landed, join(RECOVERED[0] + GUESSED[0].format(**values), RECOVERED[1] + GUESSED[1].format(**values))


def _copies(sha_dir: Path) -> list[Path]:
    return sorted(p for p in sha_dir.iterdir()
                  if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".partial"))


def recover_from_archive(archive_dir: Path, known_shas: set[str], known_ids: set[str]
                         ) -> list[tuple[LandedFile, Path, str]]:
    """Every archived landing the ledger does not know: (the landing, its archived copy, the ledger warning).

    Only the hash folders whose hash the ledger has never seen are opened (a night with a whole ledger lists
    the archive's folder names, nothing more). A copy whose bytes no longer hash to its folder's name is
    returned with a problem, so it is rejected with the reason instead of loaded.
    """
    if not archive_dir.exists():
        return []
    found = []
    # Names first, then a stat for the unknown ones only: on a national archive (78,000 hash folders, a ledger
    # that knows every one) a stat of every folder took 1.09 s, the names alone 0.10 s (December 2026).
    for prefix in sorted(p for p in archive_dir.iterdir() if len(p.name) == 2 and p.is_dir()):
        for sha_dir in sorted(prefix / name for name in os.listdir(prefix)
                              if name not in known_shas and (prefix / name).is_dir()):
            for copy in _copies(sha_dir):
                side = sidecar_path(copy)
                if side.exists():
                    landings = [(_from_json(item), join(*RECOVERED))
                                for item in json.loads(side.read_text(encoding="utf-8"))]
                else:
                    landings = [_guess(copy)]
                intact = landings and sha256_of(copy) == sha_dir.name
                for landed, note in landings:
                    if landed.submission_id in known_ids:
                        continue
                    if not intact:
                        landed = LandedFile(**asdict(landed) | {"problem": join(
                            f"存档副本“{copy}”已损坏（其 sha256 不再是 {sha_dir.name}）：请报送单位重新报送该文件",
                            f"the archived copy '{copy}' no longer hashes to {sha_dir.name}; ask the county to send "
                            "the file again")})
                    found.append((landed, copy, note))
    return found
