-- One row per building, (project_code, building_no), from its most recently received submission.
--
-- A later buildings file for the same unit and period replaces the earlier one (a correction), so
-- only the rows of the latest submission of each unit-period slice are active, whether or not the
-- loader removed the superseded rows. A building that is still reported in more than one active
-- slice (reported again in another period) is counted once, from the most recently received
-- submission (received_at, then submission_id); times_reported and periods_reported show the
-- steward where else it appeared.
with

buildings as (
    select * from {{ ref('stg_raw__buildings') }}
),

slice_submissions as (
    select
        unit_code,
        period,
        submission_id,
        row_number() over (
            partition by unit_code, period
            order by max(received_at) desc, submission_id desc
        ) as slice_version_rank
    from buildings
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

ranked as (
    select
        *,
        row_number() over (
            partition by project_code, building_no
            order by received_at desc, submission_id desc, row_number desc
        ) as version_rank
    from active
),

history as (
    select
        project_code,
        building_no,
        count(*) as times_reported,
        array_to_string(list_sort(list_distinct(list(strftime(period, '%Y-%m')))), ',') as periods_reported,
        array_to_string(list_sort(list_distinct(list(submission_id))), ',') as submissions_reported,
        min(received_at) as first_received_at
    from active
    group by project_code, building_no
)

select
    ranked.submission_id,
    ranked.row_number,
    ranked.unit_code,
    ranked.period,
    ranked.project_code,
    ranked.project_name,
    ranked.building_no,
    ranked.permit_no,
    ranked.start_date,
    ranked.building_use,
    ranked.structure_system,
    ranked.total_floor_area_m2,
    ranked.prefab_floor_area_m2,
    ranked.score_q1,
    ranked.score_q2,
    ranked.score_q3,
    ranked.score_q4,
    ranked.assembly_rate_reported_pct,
    ranked.evaluation_standard,
    ranked.full_decoration,
    ranked.green_star,
    ranked.developer,
    ranked.remarks,
    ranked.received_at,
    ranked.loaded_at,
    cast(history.times_reported as integer) as times_reported,
    history.times_reported > 1 as is_reported_more_than_once,
    history.periods_reported,
    history.submissions_reported,
    history.first_received_at
from ranked
inner join history
    on
        ranked.project_code = history.project_code
        and ranked.building_no = history.building_no
where ranked.version_rank = 1
