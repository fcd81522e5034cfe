"""DDL of the tables the pipeline itself writes in `warehouse.duckdb`: `raw` (accepted submission rows,
their columns declared in `foundation.raw_schema`) and `dq` (ledger, quarantine, check results, steward
reviews, publications, the waivers in force).

`dq` is append-only history (../shared/specs/quality-contract.md): facts are inserted once; a status that
changes (a submission later superseded, a quarantined row later waived) is a new row in a log, and the
contract's tables are views that show the latest state.
"""

from __future__ import annotations

import duckdb

from foundation.raw_schema import RAW_DDL  # the raw tables, derived from the submission template

DDL = RAW_DDL + """
create schema if not exists dq;

-- One row per file version received: the facts, written once.
create table if not exists dq.submission_files (
    submission_id varchar primary key,
    kind varchar not null,
    unit_code varchar,
    period varchar,
    file_name varchar not null,
    landing_path varchar not null,
    sha256 varchar not null,
    size_bytes bigint not null,
    received_at timestamp not null,
    archived_path varchar not null,
    rows_received integer not null default 0,
    rows_loaded integer not null default 0,
    rows_quarantined integer not null default 0,
    rows_ignored integer not null default 0,
    warnings varchar[],
    run_id varchar not null,
    processed_at timestamp not null
);

-- Every status a submission has had, in order (loaded -> superseded, ...).
create table if not exists dq.submission_status_log (
    submission_id varchar not null,
    status varchar not null,
    reason varchar,
    run_id varchar not null,
    recorded_at timestamp not null
);

create or replace view dq.submission_ledger as
select
    f.submission_id, f.kind, f.unit_code, f.period, f.file_name, f.sha256, f.size_bytes, f.received_at,
    f.archived_path, s.status, s.reason, f.rows_received, f.rows_loaded, f.rows_quarantined,
    f.rows_ignored, f.run_id, f.warnings, f.landing_path, f.processed_at, s.recorded_at as status_changed_at,
    -- whether the version was ever loaded: a superseded one was accepted and then replaced by a correction,
    -- unless a rejected file's reprocessing superseded it (ingestion/reprocess.py), which never was accepted
    s.ever_loaded
from dq.submission_files as f
join (
    select submission_id, status, reason, recorded_at,
        row_number() over (partition by submission_id order by recorded_at desc, status = 'superseded' desc) as rn,
        bool_or(status = 'loaded') over (partition by submission_id) as ever_loaded
    from dq.submission_status_log
) as s on s.submission_id = f.submission_id and s.rn = 1;

create table if not exists dq.quarantine (
    submission_id varchar not null,
    row_number integer not null,
    raw varchar not null,
    reasons varchar[] not null,
    run_id varchar not null,
    quarantined_at timestamp not null,
    rules varchar[],               -- the names of the rules the row fails (expectations/rules.py; values_readable
                                   -- for a value that could not be read); null: quarantined before they were kept
    primary key (submission_id, row_number)
);
-- Warehouses created before the rules column existed get it here (a no-op once it exists); their rows keep null.
alter table dq.quarantine add column if not exists rules varchar[];

-- The rows of a file that were received but are not data, kept with their text so that nothing a county
-- sent is lost from view: totals rows (合计/小计/总计), footnotes (注：..., 填表人 ...) and exact copies of
-- an earlier data row of the same file (counted once). Their count is dq.submission_files.rows_ignored.
-- Blank rows and the title lines above the header are not rows and are not kept (they hold nothing).
create table if not exists dq.ignored_rows (
    submission_id varchar not null,
    row_number integer not null,
    what varchar not null,         -- totals | note | copy
    text varchar not null,         -- the row's non-empty cells, joined with ' | '
    run_id varchar not null,
    recorded_at timestamp not null,
    primary key (submission_id, row_number)
);

create table if not exists dq.steward_reviews (
    review_id varchar primary key,
    reviewed_at timestamp not null,
    reviewer varchar not null,
    target_type varchar not null,  -- quarantined_row | check | submission
    target_id varchar not null,    -- '<submission_id>:<row_number>' | '<check_name>' | '<submission_id>'
    decision varchar not null,     -- waive | reject | request_resubmission | reopen | accept (a quarantined row
                                   -- whose rules are all overridable: loaded as reported by the next run)
    note varchar not null
);

create or replace view dq.quarantined_rows as
select
    q.submission_id, q.row_number, q.raw, q.reasons,
    case
        when r.decision = 'waive' then 'waived'
        when l.status = 'superseded' then 'fixed'  -- an accepted row of a superseded file is in no figure
        when r.decision = 'accept' then 'accepted'  -- loaded by the next run (ingestion/accepted.py)
        else 'open'
    end as status,
    r.reviewer as reviewed_by, r.reviewed_at, r.note as review_note, q.run_id, q.quarantined_at, q.rules
from dq.quarantine as q
left join dq.submission_ledger as l on l.submission_id = q.submission_id
left join (
    select target_id, decision, reviewer, reviewed_at, note,
        row_number() over (partition by target_id order by reviewed_at desc, review_id desc) as rn
    from dq.steward_reviews where target_type = 'quarantined_row'
) as r on r.target_id = q.submission_id || ':' || q.row_number and r.rn = 1;

-- The quarantined rows a steward accepted that the raw tables hold (loaded by ingestion/accepted.py): what the
-- next build's inputs include besides the ledger (publishing/unchanged.py, publishing/build.py).
create or replace view dq.accepted_rows_loaded as
select 'buildings' as kind, r.submission_id, r.row_number from raw.buildings as r
semi join dq.quarantine as q on q.submission_id = r.submission_id and q.row_number = r.row_number
union all
select 'production_bases' as kind, r.submission_id, r.row_number from raw.production_bases as r
semi join dq.quarantine as q on q.submission_id = r.submission_id and q.row_number = r.row_number
union all
select 'targets' as kind, r.submission_id, r.row_number from raw.targets as r
semi join dq.quarantine as q on q.submission_id = r.submission_id and q.row_number = r.row_number;

create table if not exists dq.check_results (
    run_id varchar not null,
    check_name varchar not null,
    stage varchar not null,      -- submission | gate
    severity varchar not null,   -- error | warn
    status varchar not null,     -- pass | fail | warn
    failing_rows bigint not null default 0,
    detail varchar,
    checked_at timestamp not null,
    report_url varchar,
    waived_by varchar,           -- gate only: the steward whose waiver let this failure through
    waiver_review_id varchar     -- gate only: that waiver's dq.steward_reviews.review_id
);
-- Warehouses created before the waiver columns existed get them here (a no-op once they exist).
alter table dq.check_results add column if not exists waived_by varchar;
alter table dq.check_results add column if not exists waiver_review_id varchar;

create table if not exists dq.publication_log (
    publication_id integer primary key,
    run_id varchar not null,
    published_at timestamp not null,
    data_as_of date,
    submissions_included integer not null,
    checks_passed integer not null,
    checks_warned integer not null,
    content_checksum varchar not null,
    checks_waived integer,       -- failing checks a steward's waiver let through (null: published before it was kept)
    waived_checks varchar        -- their names with who waived each: 'check (waived by steward); ...'
);
-- Warehouses created before the waiver columns existed get them here (a no-op once they exist).
alter table dq.publication_log add column if not exists checks_waived integer;
alter table dq.publication_log add column if not exists waived_checks varchar;

-- Each publication's state in every further target (the PostgreSQL database of PREFAB_REPORTING_POSTGRES_URL),
-- one row per attempt that changed it: a publication is complete when every configured target has a `complete`
-- row. The target itself is the truth (its `reporting.publication`): a rerun finding it behind the file loads it.
create table if not exists dq.publication_targets (
    publication_id integer not null,
    target varchar not null,      -- 'postgresql://user@host:port/dbname' (never the password)
    status varchar not null,      -- complete | failed
    detail varchar,               -- what was done, or why it failed
    recorded_at timestamp not null
);

-- The waivers in force: checks whose latest steward decision is `waive`, taken after the last publication
-- (a waiver lets exactly the next publication through). The gate and the steward app both read this.
create or replace view dq.waivers_in_force as
select target_id as check_name, reviewer, review_id, reviewed_at
from (
    select *, row_number() over (partition by target_id order by reviewed_at desc, review_id desc) as rn
    from dq.steward_reviews where target_type = 'check'
)
where rn = 1 and decision = 'waive'
  and reviewed_at > coalesce((select max(published_at) from dq.publication_log), '1970-01-01'::timestamp);
"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw and dq tables if they do not exist (idempotent)."""
    con.execute(DDL)
