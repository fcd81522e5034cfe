-- The production-base registry: a submission is a full snapshot of a unit's bases for a year and
-- replaces the unit's previous snapshot for that year, so only the rows of the latest submission
-- (received_at, then submission_id) of each unit and year are kept.
with

bases as (
    select * from {{ ref('stg_raw__production_bases') }}
),

snapshots as (
    select
        unit_code,
        year,
        submission_id,
        row_number() over (
            partition by unit_code, year
            order by max(received_at) desc, submission_id desc
        ) as snapshot_rank
    from bases
    group by unit_code, year, submission_id
)

select
    bases.submission_id,
    bases.row_number,
    bases.unit_code,
    bases.year,
    bases.base_name,
    bases.base_type,
    bases.design_capacity,
    -- A base without a capacity counts but adds no capacity, in no unit of measure.
    case when bases.design_capacity is not null then bases.capacity_unit end as capacity_unit,
    bases.commissioned_on,
    bases.status,
    bases.received_at
from bases
inner join snapshots
    on
        bases.unit_code = snapshots.unit_code
        and bases.year = snapshots.year
        and bases.submission_id = snapshots.submission_id
where snapshots.snapshot_rank = 1
