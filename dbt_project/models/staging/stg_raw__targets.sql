select
    cast(submission_id as varchar) as submission_id,
    cast(row_number as integer) as row_number,
    cast(unit_code as varchar) as unit_code,
    cast(year as integer) as year,
    cast(target_prefab_floor_area_m2 as decimal(18, 2)) as target_prefab_floor_area_m2,
    cast(target_res_pub_floor_area_m2 as decimal(18, 2)) as target_res_pub_floor_area_m2,
    cast(target_prefab_share_pct as decimal(6, 2)) as target_prefab_share_pct,
    cast(received_at as timestamp) as received_at,
    cast(loaded_at as timestamp) as loaded_at
from {{ source('raw', 'targets') }}
