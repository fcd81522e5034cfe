-- For each current county-level unit and functional zone and each month, from the first month any
-- buildings file arrived (var missing_from when none has) up to the current month (the month of
-- as_of_date(): var as_of_date, else today in Asia/Shanghai), whether the unit's buildings file for that
-- month has arrived. A file counts as arrived when the ledger shows it loaded or superseded; a zero report
-- (header, no rows) counts. Ledger unit codes are mapped to current codes in int_building_submissions.
with

units as (
    select * from {{ ref('dim_reporting_unit') }}
    where is_current and unit_level in ('county', 'zone')
),

submissions as (
    select * from {{ ref('int_building_submissions') }}
),

-- The latest file: by received_at, then the loaded version first, as a reprocessed file keeps the received_at
-- of the version it re-read (ingestion/reprocess.py) and the version in force is the loaded one.
arrived as (
    select
        unit_code,
        month,
        -- files, not ledger versions: a reprocessed file is a second version of the same bytes
        count(distinct file_sha256) as arrived_file_count,
        arg_max(submission_id, (received_at, status = 'loaded', submission_id)) as latest_submission_id,
        max(received_at) as latest_received_at,
        arg_max(status, (received_at, status = 'loaded', submission_id)) as latest_status,
        arg_max(is_zero_report, (received_at, status = 'loaded', submission_id)) as latest_is_zero_report
    from submissions
    where is_accepted
    group by unit_code, month
),

rejected as (
    select
        unit_code,
        month,
        count(*) as rejected_file_count
    from submissions
    where status = 'rejected'
    group by unit_code, month
),

bounds as (
    select
        coalesce(
            min(month) filter (where is_accepted),
            cast('{{ var("missing_from", "2020-01-01") }}' as date)
        ) as first_month,
        cast(date_trunc('month', {{ as_of_date() }}) as date) as last_month
    from submissions
),

months as (
    select cast(unnest(generate_series(first_month, last_month, interval 1 month)) as date) as month
    from bounds
)

select
    cast(units.unit_code as varchar) as unit_code,
    cast(units.unit_name_zh as varchar) as unit_name_zh,
    cast(units.unit_level as varchar) as unit_level,
    cast(units.city_code as varchar) as city_code,
    cast(units.province_code as varchar) as province_code,
    cast(months.month as date) as month,
    arrived.unit_code is not null as has_arrived,
    arrived.unit_code is null as is_missing,
    cast(coalesce(arrived.arrived_file_count, 0) as integer) as arrived_file_count,
    cast(coalesce(rejected.rejected_file_count, 0) as integer) as rejected_file_count,
    cast(arrived.latest_submission_id as varchar) as latest_submission_id,
    cast(arrived.latest_received_at as timestamp) as latest_received_at,
    cast(arrived.latest_status as varchar) as latest_status,
    cast(arrived.latest_is_zero_report as boolean) as latest_is_zero_report
from units
cross join months
left join arrived
    on
        units.unit_code = arrived.unit_code
        and months.month = arrived.month
left join rejected
    on
        units.unit_code = rejected.unit_code
        and months.month = rejected.month
where months.month >= cast(date_trunc('month', units.valid_from) as date)
