-- One row per reporting unit, all levels, current and retired, with the city and province it
-- rolls up to.
with

units as (
    select * from {{ ref('reporting_units') }}
),

hierarchy as (
    select * from {{ ref('int_unit_hierarchy') }}
),

ancestors as (
    select
        unit_code,
        max(ancestor_code) filter (where ancestor_level = 'city') as city_code,
        max(ancestor_code) filter (where ancestor_level = 'province') as province_code
    from hierarchy
    group by unit_code
)

select
    cast(units.unit_code as varchar) as unit_code,
    cast(units.unit_name_zh as varchar) as unit_name_zh,
    cast(units.unit_name_en as varchar) as unit_name_en,
    cast(units.unit_level as varchar) as unit_level,
    cast(units.parent_code as varchar) as parent_code,
    cast(ancestors.city_code as varchar) as city_code,
    cast(ancestors.province_code as varchar) as province_code,
    cast(case when units.unit_level != 'zone' then units.gbt2260_code end as varchar) as gbt2260_code,
    cast(units.valid_from as date) as valid_from,
    cast(units.valid_to as date) as valid_to,
    cast(units.successor_code as varchar) as successor_code,
    units.valid_to is null as is_current
from units
left join ancestors
    on units.unit_code = ancestors.unit_code
