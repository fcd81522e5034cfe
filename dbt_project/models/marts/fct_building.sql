-- One row per building: the latest accepted version of it, with its GB/T 51129-2017 assessment.
-- Incremental on the building key: the changed buildings only (macros/building_chain.sql).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=[
        "create table if not exists {{ building_chain_watermark() }} (changes_seen_until timestamp)",
        "{% if is_incremental() %}delete from {{ this }} as t using ({{ building_chain_changed_keys() }}) as changed
            where t.project_code = changed.project_code and t.building_no = changed.building_no{% endif %}",
    ],
    post_hook="{{ building_chain_record_watermark() }}",
) }}
-- depends_on: {{ ref('int_building_versions') }}
-- depends_on: {{ source('dq', 'submission_ledger') }}
with

{%- if is_incremental() %}

    changed as (
        {{ building_chain_changed_keys() }}
    ),

    assessed as (
        select assessed_buildings.*
        from {{ ref('int_buildings_assessed') }} as assessed_buildings
        inner join changed
            on
                assessed_buildings.project_code = changed.project_code
                and assessed_buildings.building_no = changed.building_no
    )
{%- else %}

    assessed as (
        select * from {{ ref('int_buildings_assessed') }}
    )
{%- endif %}

select
    cast(unit_code as varchar) as unit_code,
    cast(project_code as varchar) as project_code,
    cast(project_name as varchar) as project_name,
    cast(building_no as varchar) as building_no,
    cast(permit_no as varchar) as permit_no,
    cast(start_date as date) as start_date,
    cast(period as date) as period,
    cast(building_use as varchar) as building_use,
    cast(structure_system as varchar) as structure_system,
    cast(total_floor_area_m2 as decimal(18, 2)) as total_floor_area_m2,
    cast(prefab_floor_area_m2 as decimal(18, 2)) as prefab_floor_area_m2,
    cast(score_q1 as decimal(6, 2)) as score_q1,
    cast(score_q2 as decimal(6, 2)) as score_q2,
    cast(score_q3 as decimal(6, 2)) as score_q3,
    cast(score_q4 as decimal(6, 2)) as score_q4,
    cast(assembly_rate_pct as decimal(9, 1)) as assembly_rate_pct,
    cast(assembly_rate_reported_pct as decimal(6, 2)) as assembly_rate_reported_pct,
    cast(assembly_rate_differs as boolean) as assembly_rate_differs,
    cast(evaluation_standard as varchar) as evaluation_standard,
    cast(is_recognised_prefab as boolean) as is_recognised_prefab,
    cast(grade as varchar) as grade,
    cast(full_decoration as boolean) as full_decoration,
    cast(green_star as varchar) as green_star,
    cast(developer as varchar) as developer,
    cast(remarks as varchar) as remarks,
    cast(submission_id as varchar) as submission_id,
    cast(row_number as integer) as submission_row_number,
    cast(received_at as timestamp) as received_at,
    cast(times_reported as integer) as times_reported,
    cast(is_reported_more_than_once as boolean) as is_reported_more_than_once,
    cast(periods_reported as varchar) as periods_reported
from assessed
