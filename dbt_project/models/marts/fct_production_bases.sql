-- Production bases by unit (every level) x year x base type x status x unit of measure.
-- Capacities are summed within one unit of measure only; bases without a capacity have a null
-- capacity_unit, count in base_count and add nothing to design_capacity.
with

bases as (
    select * from {{ ref('int_production_bases_latest') }}
),

hierarchy as (
    select * from {{ ref('int_unit_hierarchy') }}
    where is_current
)

select
    cast(hierarchy.ancestor_code as varchar) as unit_code,
    cast(hierarchy.ancestor_level as varchar) as unit_level,
    cast(bases.year as integer) as year,
    cast(bases.base_type as varchar) as base_type,
    cast(bases.status as varchar) as status,
    cast(bases.capacity_unit as varchar) as capacity_unit,
    cast(count(*) as bigint) as base_count,
    cast(sum(bases.design_capacity) filter (where bases.capacity_unit is not null) as decimal(18, 2))
        as design_capacity
from bases
inner join hierarchy
    on bases.unit_code = hierarchy.unit_code
group by 1, 2, 3, 4, 5, 6
