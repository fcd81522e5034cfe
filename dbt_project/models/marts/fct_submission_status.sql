-- Submission status for analysts: each current county-level unit and functional zone x each month that is
-- due, read from the stewards' missing-submissions grid (dq.missing_submissions: the same units, months and
-- arrivals, not computed twice).
--
-- The deadline rule: a month's buildings file is reported in the following month, by its last day
-- (2021-03 is due by 2021-04-30). A month is due once it has ended: from the first day of the following
-- month the unit's file is expected, so the current month (still running) has no row. is_overdue: no
-- accepted file (missing or rejected) and the due date has passed. "Today" is as_of_date(): var
-- as_of_date, else today in Asia/Shanghai.
with

grid as (
    select * from {{ ref('missing_submissions') }}
),

as_of as (
    select {{ as_of_date() }} as as_of_date
),

months_due as (
    select
        grid.*,
        as_of.as_of_date,
        cast(last_day(grid.month + interval 1 month) as date) as due_date
    from grid
    cross join as_of
    where grid.month < date_trunc('month', as_of.as_of_date)
)

select
    cast(unit_code as varchar) as unit_code,
    cast(unit_level as varchar) as unit_level,
    cast(month as date) as month,
    cast(case
        when has_arrived and latest_is_zero_report then 'zero_report'
        when has_arrived then 'received'
        when rejected_file_count > 0 then 'rejected'
        else 'missing'
    end as varchar) as status,
    due_date,
    (not has_arrived and as_of_date > due_date) as is_overdue,
    cast(latest_submission_id as varchar) as submission_id,
    cast(latest_received_at as timestamp) as received_at,
    cast(rejected_file_count as integer) as rejected_file_count
from months_due
