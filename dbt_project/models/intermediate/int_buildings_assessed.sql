-- Each building assessed by GB/T 51129-2017:
--   P = (Q1 + Q2 + Q3) / (100 - Q4) * 100, rounded half-up to one decimal (exact decimal arithmetic),
--   recognised (认定) when Q1 >= 20, Q2 >= 10, full decoration and P >= 50,
--   grade A for 60 <= P < 76, AA for 76 <= P < 91, AAA for P >= 91 (recognised buildings only).
-- P is null where the building has no prefabricated area or a score Q1..Q3 is missing.
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

    buildings as (
        select deduplicated.*
        from {{ ref('int_buildings_deduplicated') }} as deduplicated
        inner join changed
            on
                deduplicated.project_code = changed.project_code
                and deduplicated.building_no = changed.building_no
    )
{%- else %}

    buildings as (
        select * from {{ ref('int_buildings_deduplicated') }}
    )
{%- endif %},

building_uses as (
    select * from {{ ref('building_uses') }}
),

green_stars as (
    select * from {{ ref('green_stars') }}
),

scored as (
    select
        *,
        coalesce(score_q4, 0) as score_q4_applied,
        case
            when
                prefab_floor_area_m2 > 0
                and score_q1 is not null
                and score_q2 is not null
                and score_q3 is not null
                and coalesce(score_q4, 0) < 100
                then {{ div_round_half_up(
                    '(score_q1 + score_q2 + score_q3) * 100',
                    '100 - coalesce(score_q4, 0)',
                    digits=1
                ) }}
        end as assembly_rate_computed
    from buildings
),

assessed as (
    select
        *,
        coalesce(
            score_q1 >= 20
            and score_q2 >= 10
            and full_decoration
            and assembly_rate_computed >= 50,
            false
        ) as is_recognised
    from scored
)

select
    assessed.submission_id,
    assessed.row_number,
    assessed.unit_code,
    assessed.period,
    assessed.project_code,
    assessed.project_name,
    assessed.building_no,
    assessed.permit_no,
    assessed.start_date,
    assessed.building_use,
    assessed.structure_system,
    assessed.total_floor_area_m2,
    assessed.prefab_floor_area_m2,
    assessed.score_q1,
    assessed.score_q2,
    assessed.score_q3,
    cast(assessed.score_q4_applied as decimal(6, 2)) as score_q4,
    cast(assessed.assembly_rate_computed as decimal(9, 1)) as assembly_rate_pct,
    assessed.assembly_rate_reported_pct,
    coalesce(
        abs(assessed.assembly_rate_reported_pct - assessed.assembly_rate_computed) > 1, false
    ) as assembly_rate_differs,
    assessed.evaluation_standard,
    assessed.is_recognised as is_recognised_prefab,
    case
        when not assessed.is_recognised then null
        when assessed.assembly_rate_computed >= 91 then 'AAA'
        when assessed.assembly_rate_computed >= 76 then 'AA'
        when assessed.assembly_rate_computed >= 60 then 'A'
    end as grade,
    assessed.full_decoration,
    assessed.green_star,
    assessed.developer,
    assessed.remarks,
    coalesce(building_uses.is_residential, false) as is_residential,
    coalesce(building_uses.is_residential_or_public, false) as is_residential_or_public,
    coalesce(green_stars.is_rated, false) as is_green_rated,
    assessed.times_reported,
    assessed.is_reported_more_than_once,
    assessed.periods_reported,
    assessed.submissions_reported,
    assessed.received_at,
    assessed.loaded_at
from assessed
left join building_uses
    on assessed.building_use = building_uses.code
left join green_stars
    on assessed.green_star = green_stars.code
