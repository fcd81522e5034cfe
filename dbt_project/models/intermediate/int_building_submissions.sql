-- The buildings files of the submission ledger (every status), each under the current code of its unit and
-- its month: the one place where ledger codes are mapped through the successor chain, for the
-- missing-submissions grid (and so fct_submission_status) and for fct_indicators_daily's units_reported.
with

reference_units as (
    select * from {{ ref('reporting_units') }}
),

ledger as (
    select * from {{ source('dq', 'submission_ledger') }}
    where kind = 'buildings'
),

code_map as (
    -- A code, its successor, the successor's successor...: the current code at the end of the chain.
    select
        unit.unit_code,
        coalesce(successor_3.unit_code, successor_2.unit_code, successor_1.unit_code, unit.unit_code)
            as current_code
    from reference_units as unit
    left join reference_units as successor_1
        on unit.successor_code = successor_1.unit_code
    left join reference_units as successor_2
        on successor_1.successor_code = successor_2.unit_code
    left join reference_units as successor_3
        on successor_2.successor_code = successor_3.unit_code
)

select
    cast(ledger.submission_id as varchar) as submission_id,
    cast(coalesce(code_map.current_code, ledger.unit_code) as varchar) as unit_code,
    cast(ledger.unit_code as varchar) as submitted_unit_code,
    cast(try_cast(ledger.period || '-01' as date) as date) as month,
    cast(ledger.status as varchar) as status,
    -- superseded counts only when the version had been loaded: a rejected file that its reprocessing
    -- superseded (ingestion/reprocess.py) was never accepted, nor would a fresh load of the file count it
    (ledger.status = 'loaded' or (ledger.status = 'superseded' and ledger.ever_loaded)) as is_accepted,
    ledger.rows_loaded + ledger.rows_quarantined = 0 as is_zero_report,
    -- the file's bytes: a reprocessed version (ingestion/reprocess.py) has those of the version it re-read
    cast(ledger.sha256 as varchar) as file_sha256,
    cast(ledger.received_at as timestamp) as received_at,
    cast(ledger.status_changed_at as timestamp) as status_changed_at
from ledger
left join code_map
    on ledger.unit_code = code_map.unit_code
