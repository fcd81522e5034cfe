-- The structure system (结构体系) codes with their Chinese and English labels:
-- the seed `structure_systems`, which `python -m foundation.seeds` writes from
-- foundation/template.py ENUMERATIONS (their one source).
select
    cast(code as varchar) as code,
    cast(name_zh as varchar) as name_zh,
    cast(name_en as varchar) as name_en,
    cast(is_prefabricated as boolean) as is_prefabricated,
    cast(sort_order as integer) as sort_order
from {{ ref('structure_systems') }}
