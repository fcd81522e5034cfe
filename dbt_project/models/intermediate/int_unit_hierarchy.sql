-- Every reporting unit paired with itself and with each of its ancestors
-- (county/zone -> city -> province). A pair is valid while both ends are (the intersection of their
-- valid_from..valid_to ranges); current pairs (valid_to null) are what the marts roll up through.
with

units as (
    select
        unit_code,
        unit_level,
        parent_code,
        valid_from,
        valid_to
    from {{ ref('reporting_units') }}
),

chains as (
    select
        unit.unit_code,
        unit.unit_level,
        unit.valid_from,
        unit.valid_to,
        parent.unit_code as parent_code,
        parent.unit_level as parent_level,
        parent.valid_from as parent_valid_from,
        parent.valid_to as parent_valid_to,
        grandparent.unit_code as grandparent_code,
        grandparent.unit_level as grandparent_level,
        grandparent.valid_from as grandparent_valid_from,
        grandparent.valid_to as grandparent_valid_to,
        great_grandparent.unit_code as great_grandparent_code,
        great_grandparent.unit_level as great_grandparent_level,
        great_grandparent.valid_from as great_grandparent_valid_from,
        great_grandparent.valid_to as great_grandparent_valid_to
    from units as unit
    left join units as parent
        on unit.parent_code = parent.unit_code
    left join units as grandparent
        on parent.parent_code = grandparent.unit_code
    left join units as great_grandparent
        on grandparent.parent_code = great_grandparent.unit_code
),

pairs as (
    select
        unit_code,
        unit_level,
        unit_code as ancestor_code,
        unit_level as ancestor_level,
        0 as levels_up,
        valid_from,
        valid_to
    from chains

    union all

    select
        unit_code,
        unit_level,
        parent_code as ancestor_code,
        parent_level as ancestor_level,
        1 as levels_up,
        greatest(valid_from, parent_valid_from) as valid_from,
        least(valid_to, parent_valid_to) as valid_to
    from chains
    where parent_code is not null

    union all

    select
        unit_code,
        unit_level,
        grandparent_code as ancestor_code,
        grandparent_level as ancestor_level,
        2 as levels_up,
        greatest(valid_from, parent_valid_from, grandparent_valid_from) as valid_from,
        least(valid_to, parent_valid_to, grandparent_valid_to) as valid_to
    from chains
    where grandparent_code is not null

    union all

    select
        unit_code,
        unit_level,
        great_grandparent_code as ancestor_code,
        great_grandparent_level as ancestor_level,
        3 as levels_up,
        greatest(
            valid_from, parent_valid_from, grandparent_valid_from, great_grandparent_valid_from
        ) as valid_from,
        least(valid_to, parent_valid_to, grandparent_valid_to, great_grandparent_valid_to) as valid_to
    from chains
    where great_grandparent_code is not null
)

select
    cast(unit_code as varchar) as unit_code,
    cast(unit_level as varchar) as unit_level,
    cast(ancestor_code as varchar) as ancestor_code,
    cast(ancestor_level as varchar) as ancestor_level,
    cast(levels_up as integer) as levels_up,
    cast(valid_from as date) as valid_from,
    cast(valid_to as date) as valid_to,
    valid_to is null as is_current
from pairs
