-- Every buildings row ever loaded, kept after the loader deletes it (a correction removes the rows of the
-- file it supersedes from raw.buildings): the keys and places of the rows a superseded file held are
-- what tells the incremental marts which unit-years a correction touches. Append-only: each build adds
-- the rows loaded after the latest loaded_at it holds (loads and builds take turns under the
-- warehouse lock, so a later load always has a later loaded_at). A full refresh starts again from
-- raw.buildings.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail') }}

with

buildings as (
    select * from {{ ref('stg_raw__buildings') }}
),

{%- if is_incremental() %}

    kept as (
        select coalesce(max(loaded_at), cast('1900-01-01' as timestamp)) as latest_loaded_at
        from {{ this }}
    ),
{%- endif %}

new_rows as (
    select buildings.*
    from buildings
    {%- if is_incremental() %}
        where buildings.loaded_at > (select kept.latest_loaded_at from kept)
    {%- endif %}
)

select
    submission_id,
    row_number,
    unit_code,
    period,
    project_code,
    building_no,
    start_date,
    loaded_at
from new_rows
