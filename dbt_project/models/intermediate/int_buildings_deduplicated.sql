-- One row per building, (project_code, building_no), from its most recently received submission.
--
-- A later buildings file for the same unit and period replaces the earlier one (a correction), so
-- only the rows of the latest submission of each unit-period slice are active, whether or not the
-- loader removed the superseded rows. A building that is still reported in more than one active
-- slice (reported again in another period) is counted once, from the most recently received
-- submission (received_at, then submission_id); times_reported and periods_reported show the
-- steward where else it appeared.
--
-- Incremental on the building key (macros/building_chain.sql): a build recomputes the buildings of the
-- unit-period slices that changed, from all their rows and from every submission of the slices those rows
-- sit in (the latest submission of a slice decides which of its rows are active).
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
        select all_buildings.*
        from {{ ref('stg_raw__buildings') }} as all_buildings
        inner join changed
            on
                all_buildings.project_code = changed.project_code
                and all_buildings.building_no = changed.building_no
    ),

    slices as (
        select distinct
            unit_code,
            period
        from buildings
    ),

    slice_buildings as (
        select all_buildings.*
        from {{ ref('stg_raw__buildings') }} as all_buildings
        inner join slices
            on
                all_buildings.unit_code = slices.unit_code
                and all_buildings.period = slices.period
    ),
{%- else %}

    buildings as (
        select * from {{ ref('stg_raw__buildings') }}
    ),

    slice_buildings as (
        select * from buildings
    ),
{%- endif %}

slice_submissions as (
    select
        unit_code,
        period,
        submission_id,
        row_number() over (
            partition by unit_code, period
            order by max(received_at) desc, submission_id desc
        ) as slice_version_rank
    from slice_buildings
    group by unit_code, period, submission_id
),

active as (
    select buildings.*
    from buildings
    inner join slice_submissions
        on
            buildings.unit_code = slice_submissions.unit_code
            and buildings.period = slice_submissions.period
            and buildings.submission_id = slice_submissions.submission_id
    where slice_submissions.slice_version_rank = 1
),

-- Most buildings are reported once: their row is their version and their history, with no window or
-- list to compute (on a national year this halves the model's time).
counted as (
    select
        *,
        count(*) over (partition by project_code, building_no) as times_reported
    from active
),

more_than_once as (
    select * exclude (times_reported) from counted
    where times_reported > 1
),

ranked as (
    select
        *,
        row_number() over (
            partition by project_code, building_no
            order by received_at desc, submission_id desc, row_number desc
        ) as version_rank
    from more_than_once
),

history as (
    select
        project_code,
        building_no,
        count(*) as times_reported,
        array_to_string(list_sort(list_distinct(list(strftime(period, '%Y-%m')))), ',') as periods_reported,
        array_to_string(list_sort(list_distinct(list(submission_id))), ',') as submissions_reported,
        min(received_at) as first_received_at
    from more_than_once
    group by project_code, building_no
),

once_versions as (
    select
        *,
        strftime(period, '%Y-%m') as periods_reported,
        submission_id as submissions_reported,
        received_at as first_received_at
    from counted
    where times_reported = 1
),

repeated_versions as (
    select
        ranked.* exclude (ranked.version_rank),
        history.times_reported,
        history.periods_reported,
        history.submissions_reported,
        history.first_received_at
    from ranked
    inner join history
        on
            ranked.project_code = history.project_code
            and ranked.building_no = history.building_no
    where ranked.version_rank = 1
),

versions as (
    select * from once_versions
    union all by name
    select * from repeated_versions
)

select
    versions.submission_id,
    versions.row_number,
    versions.unit_code,
    versions.period,
    versions.project_code,
    versions.project_name,
    versions.building_no,
    versions.permit_no,
    versions.start_date,
    versions.building_use,
    versions.structure_system,
    versions.total_floor_area_m2,
    versions.prefab_floor_area_m2,
    versions.score_q1,
    versions.score_q2,
    versions.score_q3,
    versions.score_q4,
    versions.assembly_rate_reported_pct,
    versions.evaluation_standard,
    versions.full_decoration,
    versions.green_star,
    versions.developer,
    versions.remarks,
    versions.received_at,
    versions.loaded_at,
    cast(versions.times_reported as integer) as times_reported,
    versions.times_reported > 1 as is_reported_more_than_once,
    versions.periods_reported,
    versions.submissions_reported,
    versions.first_received_at
from versions
