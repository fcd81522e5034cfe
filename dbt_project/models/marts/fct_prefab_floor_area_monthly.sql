-- Newly started floor area by unit (every level) x month x building use x structure system.
-- Buildings are summed at their own unit, then rolled up through the current unit hierarchy.
with

buildings as (
    select * from {{ ref('int_buildings_assessed') }}
),

hierarchy as (
    select * from {{ ref('int_unit_hierarchy') }}
    where is_current
),

unit_months as (
    select
        unit_code,
        cast(date_trunc('month', start_date) as date) as month,
        building_use,
        structure_system,
        count(*) as building_count,
        sum(total_floor_area_m2) as total_floor_area_m2,
        sum(prefab_floor_area_m2) as prefab_floor_area_m2
    from buildings
    group by 1, 2, 3, 4
)

select
    cast(hierarchy.ancestor_code as varchar) as unit_code,
    cast(hierarchy.ancestor_level as varchar) as unit_level,
    cast(unit_months.month as date) as month,
    cast(unit_months.building_use as varchar) as building_use,
    cast(unit_months.structure_system as varchar) as structure_system,
    cast(sum(unit_months.building_count) as bigint) as building_count,
    cast(sum(unit_months.total_floor_area_m2) as decimal(18, 2)) as total_floor_area_m2,
    cast(sum(unit_months.prefab_floor_area_m2) as decimal(18, 2)) as prefab_floor_area_m2
from unit_months
inner join hierarchy
    on unit_months.unit_code = hierarchy.unit_code
group by 1, 2, 3, 4, 5
