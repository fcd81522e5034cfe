-- The building use (建筑类别) codes with their Chinese and English labels:
-- the seed `building_uses`, which `python -m foundation.seeds` writes from
-- foundation/template.py ENUMERATIONS (their one source).
select
    cast(code as varchar) as code,
    cast(name_zh as varchar) as name_zh,
    cast(name_en as varchar) as name_en,
    cast(is_residential as boolean) as is_residential,
    cast(is_public as boolean) as is_public,
    cast(is_residential_or_public as boolean) as is_residential_or_public,
    cast(sort_order as integer) as sort_order
from {{ ref('building_uses') }}
