-- The green building rating (绿色建筑星级) codes with their Chinese and English labels:
-- the seed `green_stars`, which `python -m foundation.seeds` writes from
-- foundation/template.py ENUMERATIONS (their one source).
select
    cast(code as varchar) as code,
    cast(name_zh as varchar) as name_zh,
    cast(name_en as varchar) as name_en,
    cast(is_rated as boolean) as is_rated,
    cast(sort_order as integer) as sort_order
from {{ ref('green_stars') }}
