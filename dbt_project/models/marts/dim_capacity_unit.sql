-- The capacity unit of measure (产能单位) codes with their Chinese and English labels:
-- the seed `capacity_units`, which `python -m foundation.seeds` writes from
-- foundation/template.py ENUMERATIONS (their one source).
select
    cast(code as varchar) as code,
    cast(name_zh as varchar) as name_zh,
    cast(name_en as varchar) as name_en,
    cast(measure as varchar) as measure
from {{ ref('capacity_units') }}
