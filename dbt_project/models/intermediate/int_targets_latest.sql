-- One annual task per unit and year: the most recently received row (received_at, then
-- submission_id, then the later row of the file). A city's or province's task is its own row.
with

targets as (
    select * from {{ ref('stg_raw__targets') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by unit_code, year
            order by received_at desc, submission_id desc, row_number desc
        ) as version_rank
    from targets
)

select
    unit_code,
    year,
    target_prefab_floor_area_m2,
    target_res_pub_floor_area_m2,
    target_prefab_share_pct,
    submission_id,
    received_at,
    loaded_at
from ranked
where version_rank = 1
