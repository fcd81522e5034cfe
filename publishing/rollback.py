"""Rolling back: the newest kept publication older than the live one put back in place, in `reporting.duckdb`
and in the PostgreSQL target (`PREFAB_REPORTING_POSTGRES_URL`) when one is configured.

Both or neither. The PostgreSQL target is switched first, to the kept file itself (`complete_postgres` with it
as the source, one transaction as a publication's switch): when that fails (server down, analysts' views on a
column the older publication lacks) nothing has changed anywhere and the rollback is refused saying why.
Only then is the kept file copied over `reporting.duckdb` (atomically, `retention.copy_atomically`). Rolling the
file back alone would leave analysts on PostgreSQL with the newer figures until the next night.

Under the warehouse lock, as a publication: no run publishes meanwhile. The content replaced is remembered
(`retention.remember_rolled_back`), so the next night does not publish it again until the data or a model
changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from foundation.config import Settings
from foundation.lock import warehouse_lock
from publishing.postgres import PostgresTargetMissing, complete_postgres
from publishing.publish import PUBLISHED_TABLES, postgres_comments
from publishing.retention import copy_atomically, damaged, kept, publication_facts, remember_rolled_back, rolled_back

log = logging.getLogger(__name__)


class NothingToRollBack(RuntimeError):
    """No kept publication older than the live one."""


class RollbackRefused(RuntimeError):
    """The PostgreSQL target could not be switched to the older publication: nothing was rolled back."""


@dataclass
class Rollback:
    """What `rollback` did (JSON-ready)."""

    from_publication_id: int | None  # the live publication before (None: it could not be read)
    to_publication_id: int
    content_checksum: str  # of the publication now live
    path: str
    postgres: str | None = None  # what the PostgreSQL target got (None: none configured)


def rollback(settings: Settings) -> Rollback:
    """Put the newest kept publication older than the live one back in place, passing over one that was rolled
    back before; in PostgreSQL first, then in the file. When the live file is damaged or missing, the newest
    kept one that opens is put back. Raises `NothingToRollBack`, `RollbackRefused`."""
    target = settings.reporting_path
    with warehouse_lock(settings, owner="python -m publishing rollback", wait_seconds=settings.writer_wait_seconds):
        live_id, live_checksum = None, None
        if target.exists() and not damaged(target):
            live_id, live_checksum = publication_facts(target)
        older = [(i, p) for i, p in kept(settings) if (live_id is None or i < live_id) and not damaged(p)
                 and rolled_back(settings, publication_facts(p)[1]) is None]
        if not older:
            raise NothingToRollBack(f"没有可回滚的更早发布: no kept publication older than "
                                    f"{live_id if live_id is not None else 'the live file'} in "
                                    f"{settings.publications_dir}")
        to_id, source = older[-1]
        try:
            postgres = complete_postgres(settings, PUBLISHED_TABLES, postgres_comments(settings, source), source,
                                         record_failure=False)
        except PostgresTargetMissing as exc:
            raise RollbackRefused(
                f"回滚未执行，PostgreSQL 无法切换到发布 {to_id}: rollback not done: the PostgreSQL target could not "
                f"be switched to publication {to_id} ({' '.join(str(exc.__cause__ or exc).split())}). Nothing "
                f"changed: {target} and PostgreSQL show what they showed before. Fix the cause (the server, or "
                "analysts' views on a column the older publication lacks), then run `make rollback` again") from exc
        try:
            copy_atomically(source, target)
        except OSError:
            # PostgreSQL already shows the older publication: put it back to the file's, then fail as it is
            if settings.reporting_postgres_url and live_id is not None:
                complete_postgres(settings, PUBLISHED_TABLES, postgres_comments(settings, target))
            raise
        if live_checksum is not None:
            remember_rolled_back(settings, live_id, live_checksum)
        target.with_name(target.name + ".wal").unlink(missing_ok=True)
        _, checksum = publication_facts(target)
    log.warning("rolled back reporting.duckdb from publication %s to %s", live_id, to_id)
    return Rollback(live_id, to_id, checksum, str(target), postgres)
