select
    cast(submission_id as varchar) as submission_id,
    cast(row_number as integer) as row_number,
    cast(unit_code as varchar) as unit_code,
    cast(year as integer) as year,
    cast(base_name as varchar) as base_name,
    cast(base_type as varchar) as base_type,
    cast(design_capacity as decimal(18, 2)) as design_capacity,
    cast(capacity_unit as varchar) as capacity_unit,
    cast(commissioned_on as date) as commissioned_on,
    cast(status as varchar) as status,
    cast(received_at as timestamp) as received_at,
    cast(loaded_at as timestamp) as loaded_at
from {{ source('raw', 'production_bases') }}
