-- The production base status (基地状态) codes with their Chinese and English labels:
-- the seed `base_statuses`, which `python -m foundation.seeds` writes from
-- foundation/template.py ENUMERATIONS (their one source).
select
    cast(code as varchar) as code,
    cast(name_zh as varchar) as name_zh,
    cast(name_en as varchar) as name_en,
    cast(sort_order as integer) as sort_order
from {{ ref('base_statuses') }}
