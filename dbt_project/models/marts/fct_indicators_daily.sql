-- Year-to-date indicators by unit (every level) x as_of_date, for every day of every year that has
-- buildings data (the contract's words): a year between two data years that has none gets no rows, so an
-- outlier decades away from the rest costs one year of rows, not every year in between.
--
-- Coverage: units_expected counts the submitting units (current county-level units and zones) at or below
-- the unit on that day (from their valid_from), units_reported those of them with an accepted buildings file
-- (loaded or superseded, a zero report included) for a month of the year up to that day. A unit with no
-- submitting unit in scope (a city whose counties are outside the reporting scope) has no rows: zeros there
-- would read as "nothing started". (On a day before its first submitting unit is valid a unit keeps its row,
-- with units_expected 0: a year of data is never cut.)
--
-- 1. sum buildings per unit and start date; 2. roll the daily sums up through the current unit
-- hierarchy; 3. running year-to-date sums per unit and year on the days with data; 4. a calendar
-- spine (generate_series: every current unit x every day of the data years) takes, by ASOF join,
-- the running sums of the latest day with data on or before each day, and those of the same day
-- one year earlier (29 February -> 28 February; 0 where the previous year has no data, so the
-- spine needs no padding year); 5. the unit's own annual targets; 6. ratios rounded half-up to two
-- decimals in exact integer arithmetic.
--
-- The ASOF form gives the same rows as cumulative window sums over the dense spine but keeps the
-- window work on the sparse rows: about 2.4 s instead of 6.7 s for 3000 units x 2 years.
--
-- Areas are carried as integers in hundredths of a m² ("cents", exact for DECIMAL(18, 2)) and the
-- assembly-rate weights as P x 10 x area cents; integer arithmetic keeps every figure exact and
-- is much cheaper than DECIMAL(38, x) on millions of rows.
--
-- Incremental: a build recomputes only the (unit, year) slices that what the ledger loaded or superseded
-- since the model's last build can have changed, and replaces them; every other slice is kept. A changed
-- building (a new row, or a row of a superseded file) marks every unit-year where any version of that
-- building sits, rolled up to its city and province, and the next year (its previous-year columns); a
-- buildings file received or changed (a zero report has no rows) marks its unit-year, rolled up
-- (units_reported); a new or replaced target marks its own unit-year; a superseded targets file or a year
-- new to the calendar marks that year for every unit; years no longer in the calendar are deleted. The
-- post-hook records the latest change taken in (indicators_watermark()); with none recorded, or with
-- `--full-refresh`, everything is built: the result is the same. The delete+insert key is (unit_code,
-- as_of_date): a recomputed slice has every day of its year, and a key unique in the new rows keeps the
-- delete a 1:1 join (keyed on unit_code, year, each old row matched 365 new ones).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['unit_code', 'as_of_date'],
    on_schema_change='fail',
    pre_hook=[
        "create table if not exists " ~ indicators_watermark() ~ " (changes_seen_until timestamp)",
        "{% if is_incremental() %}delete from {{ this }} where year not in
            (select distinct year(start_date) from {{ ref('int_buildings_assessed') }}
             where start_date is not null){% endif %}",
    ],
    post_hook="create or replace table " ~ indicators_watermark() ~ " as
        select greatest(
            (select max(loaded_at) from {{ ref('int_building_versions') }}),
            (select max(status_changed_at) from {{ source('dq', 'submission_ledger') }})
        ) as changes_seen_until",
) }}
-- depends_on: {{ ref('int_building_versions') }}
-- depends_on: {{ source('dq', 'submission_ledger') }}
-- depends_on: {{ ref('int_building_submissions') }}
{%- set changes_only = is_incremental() %}
{#- Optional output restriction (vars indicators_from_date / indicators_to_date); the running sums
    still start on 1 January, so restricting never changes a figure. #}
{%- set date_from = var('indicators_from_date', none) %}
{%- set date_to = var('indicators_to_date', none) %}
{%- set date_conditions = ['true'] %}
{%- if date_from is not none %}
    {%- do date_conditions.append("calendar.day >= cast('" ~ date_from ~ "' as date)") %}
{%- endif %}
{%- if date_to is not none %}
    {%- do date_conditions.append("calendar.day <= cast('" ~ date_to ~ "' as date)") %}
{%- endif %}
{%- set date_filter = date_conditions | join(' and ') %}

with

buildings as (
    select
        unit_code,
        start_date,
        full_decoration,
        is_residential,
        is_residential_or_public,
        is_green_rated,
        is_recognised_prefab,
        grade,
        cast(total_floor_area_m2 * 100 as bigint) as total_cents,
        cast(prefab_floor_area_m2 * 100 as bigint) as prefab_cents,
        prefab_floor_area_m2 > 0 and assembly_rate_pct is not null as has_assembly_rate,
        cast(assembly_rate_pct * 10 as bigint) as assembly_rate_tenths
    from {{ ref('int_buildings_assessed') }}
),

hierarchy as (
    select * from {{ ref('int_unit_hierarchy') }}
    where is_current
),

targets as (
    select * from {{ ref('int_targets_latest') }}
),

-- Each unit's submitting units (current county-level units and zones at or below it), from when each is
-- valid.
submitting_units as (
    select
        ancestor_code as unit_code,
        unit_code as submitting_code,
        valid_from
    from hierarchy
    where unit_level in ('county', 'zone')
),

-- Only units with a submitting unit get rows.
units as (
    select distinct
        ancestor_code as unit_code,
        ancestor_level as unit_level
    from hierarchy
    where ancestor_code in (select submitting_units.unit_code from submitting_units)
),

-- units_expected by day: a running count over the days submitting units become valid (sparse, taken by ASOF).
expected_steps as (
    select
        unit_code,
        valid_from as day,
        count(*) as unit_count
    from submitting_units
    group by unit_code, valid_from
),

expected_cumulative as (
    select
        unit_code,
        day,
        sum(unit_count) over (
            partition by unit_code order by day rows between unbounded preceding and current row
        ) as units_expected
    from expected_steps
),

-- The first month of each year a submitting unit has an accepted buildings file for (a zero report counts):
-- from its first day (or the unit's valid_from, if later in that year) the unit counts as reported.
first_reported as (
    select
        unit_code as submitting_code,
        year(month) as year,
        min(month) as first_month
    from {{ ref('int_building_submissions') }}
    where is_accepted and month is not null
    group by unit_code, year(month)
),

reported_steps as (
    select
        submitting_units.unit_code,
        greatest(first_reported.first_month, submitting_units.valid_from) as day,
        count(*) as unit_count
    from first_reported
    inner join submitting_units
        on first_reported.submitting_code = submitting_units.submitting_code
    where year(greatest(first_reported.first_month, submitting_units.valid_from)) = first_reported.year
    group by submitting_units.unit_code, greatest(first_reported.first_month, submitting_units.valid_from)
),

reported_cumulative as (
    select
        unit_code,
        day,
        year(day) as year,
        sum(unit_count) over (
            partition by unit_code, year(day) order by day rows between unbounded preceding and current row
        ) as units_reported
    from reported_steps
),

unit_days as (
    select
        unit_code,
        start_date as day,
        count(*) as building_count,
        sum(total_cents) as new_area,
        sum(prefab_cents) as prefab_area,
        coalesce(sum(prefab_cents) filter (where is_residential_or_public), 0) as res_pub_prefab_area,
        coalesce(sum(total_cents) filter (where is_residential), 0) as residential_area,
        coalesce(
            sum(total_cents) filter (where is_residential and full_decoration), 0
        ) as residential_full_decoration_area,
        coalesce(sum(total_cents) filter (where is_green_rated), 0) as green_area,
        count(*) filter (where is_recognised_prefab) as recognised_count,
        count(*) filter (where grade = 'A') as grade_a_count,
        count(*) filter (where grade = 'AA') as grade_aa_count,
        count(*) filter (where grade = 'AAA') as grade_aaa_count,
        coalesce(sum(total_cents) filter (where has_assembly_rate), 0) as rated_area,
        coalesce(
            sum(cast(assembly_rate_tenths as hugeint) * total_cents) filter (where has_assembly_rate), 0
        ) as rated_area_x_rate
    from buildings
    group by unit_code, start_date
),

rolled_up_days as (
    select
        hierarchy.ancestor_code as unit_code,
        unit_days.day,
        sum(unit_days.building_count) as building_count,
        sum(unit_days.new_area) as new_area,
        sum(unit_days.prefab_area) as prefab_area,
        sum(unit_days.res_pub_prefab_area) as res_pub_prefab_area,
        sum(unit_days.residential_area) as residential_area,
        sum(unit_days.residential_full_decoration_area) as residential_full_decoration_area,
        sum(unit_days.green_area) as green_area,
        sum(unit_days.recognised_count) as recognised_count,
        sum(unit_days.grade_a_count) as grade_a_count,
        sum(unit_days.grade_aa_count) as grade_aa_count,
        sum(unit_days.grade_aaa_count) as grade_aaa_count,
        sum(unit_days.rated_area) as rated_area,
        sum(unit_days.rated_area_x_rate) as rated_area_x_rate
    from unit_days
    inner join hierarchy
        on unit_days.unit_code = hierarchy.unit_code
    group by hierarchy.ancestor_code, unit_days.day
),

-- The years with data; the previous-year columns read the sparse sums, so no padding year is needed.
data_years as (
    select distinct year(start_date) as data_year
    from buildings
    where start_date is not null
),

calendar as (
    select
        cast(unnest(generate_series(
            make_date(data_year, 1, 1), make_date(data_year, 12, 31), interval 1 day
        )) as date) as day
    from data_years
),

{%- if changes_only %}

    -- The (unit, year) slices to recompute: see the header.
    watermark as (
        select coalesce(max(changes_seen_until), cast('1900-01-01' as timestamp)) as changes_seen_until
        from {{ indicators_watermark() }}
    ),

    ledger_changes as (
        select ledger.*
        from {{ source('dq', 'submission_ledger') }} as ledger
        cross join watermark
        where ledger.status_changed_at > watermark.changes_seen_until
    ),

    versions as (
        select * from {{ ref('int_building_versions') }}
    ),

    changed_submissions as (
        select versions.submission_id
        from versions
        cross join watermark
        where versions.loaded_at > watermark.changes_seen_until

        union

        select submission_id
        from ledger_changes
        where kind = 'buildings' and status = 'superseded'
    ),

    -- Every file of a unit-period slice that changed: the one that replaced another and the one replaced.
    changed_slices as (
        select distinct
            versions.unit_code,
            versions.period
        from versions
        inner join changed_submissions
            on versions.submission_id = changed_submissions.submission_id
    ),

    changed_buildings as (
        select distinct
            versions.project_code,
            versions.building_no
        from versions
        inner join changed_slices
            on
                versions.unit_code = changed_slices.unit_code
                and versions.period = changed_slices.period
    ),

    -- Wherever any version of a changed building sits: where it was counted and where it is now.
    changed_unit_years as (
        select distinct
            versions.unit_code,
            year(versions.start_date) as year
        from versions
        inner join changed_buildings
            on
                versions.project_code = changed_buildings.project_code
                and versions.building_no = changed_buildings.building_no
    ),

    -- A year's figures are also the next year's previous-year columns.
    year_offsets as (
        select 0 as year_offset
        union all
        select 1 as year_offset
    ),

    calendar_years as (
        select distinct year(day) as year from calendar
    ),

    built_years as (
        select distinct year from {{ this }}
    ),

    affected as (
        -- the unit, its city and its province
        select
            hierarchy.ancestor_code as unit_code,
            changed_unit_years.year + year_offsets.year_offset as year
        from changed_unit_years
        inner join hierarchy
            on changed_unit_years.unit_code = hierarchy.unit_code
        cross join year_offsets

        union

        -- a buildings file received or changed (a zero report has no building rows): units_reported
        select
            hierarchy.ancestor_code as unit_code,
            year(submissions.month) as year
        from ledger_changes
        inner join {{ ref('int_building_submissions') }} as submissions
            on ledger_changes.submission_id = submissions.submission_id
        inner join hierarchy
            on submissions.unit_code = hierarchy.unit_code
        where ledger_changes.kind = 'buildings' and submissions.month is not null

        union

        -- a unit's own task, new or replaced
        select
            targets.unit_code,
            targets.year
        from targets
        cross join watermark
        where targets.loaded_at > watermark.changes_seen_until

        union

        -- a superseded targets file (its rows are gone): its year, or every year, for every unit
        select
            units.unit_code,
            calendar_years.year
        from ledger_changes
        inner join calendar_years
            on
                coalesce(try_cast(left(ledger_changes.period, 4) as integer), calendar_years.year)
                = calendar_years.year
        cross join units
        where ledger_changes.kind = 'targets' and ledger_changes.status = 'superseded'

        union

        -- a year new to the calendar, for every unit
        select
            units.unit_code,
            calendar_years.year
        from calendar_years
        cross join units
        left join built_years
            on calendar_years.year = built_years.year
        where built_years.year is null
    ),

    affected_units as (
        select distinct unit_code from affected
    ),

    affected_slices as (
        select distinct unit_code || '|' || cast(year as varchar) as slice_key from affected
    ),
{%- endif %}

-- The units whose figures are (re)computed: all of them unless the build is incremental.
days_to_sum as (
    select rolled_up_days.*
    from rolled_up_days
    {%- if changes_only %}
        where rolled_up_days.unit_code in (select affected_units.unit_code from affected_units)
    {%- endif %}
),

-- Running year-to-date sums on the days that have data only (sparse: far fewer rows than the spine).
sparse_cumulative as (
    select
        unit_code,
        day,
        year(day) as year,
        sum(building_count) over ytd as building_count,
        sum(new_area) over ytd as new_area,
        sum(prefab_area) over ytd as prefab_area,
        sum(res_pub_prefab_area) over ytd as res_pub_prefab_area,
        sum(residential_area) over ytd as residential_area,
        sum(residential_full_decoration_area) over ytd as residential_full_decoration_area,
        sum(green_area) over ytd as green_area,
        sum(recognised_count) over ytd as recognised_count,
        sum(grade_a_count) over ytd as grade_a_count,
        sum(grade_aa_count) over ytd as grade_aa_count,
        sum(grade_aaa_count) over ytd as grade_aaa_count,
        sum(rated_area) over ytd as rated_area,
        sum(rated_area_x_rate) over ytd as rated_area_x_rate
    from days_to_sum
    window ytd as (
        partition by unit_code, year(day)
        order by day
        rows between unbounded preceding and current row
    )
),

unit_days_spine as (
    select
        units.unit_code,
        units.unit_level,
        calendar.day as as_of_date,
        year(calendar.day) as year,
        year(calendar.day) - 1 as prev_year,
        -- 29 February minus one year is 28 February.
        cast(calendar.day - interval 1 year as date) as prev_as_of_date
    from units
    cross join calendar
    where
        {{ date_filter }}
        {%- if changes_only %}
            -- one key: joined on unit_code and year, DuckDB planned the ASOF joins below 15x slower
            and units.unit_code || '|' || cast(year(calendar.day) as varchar)
            in (select affected_slices.slice_key from affected_slices)
        {%- endif %}
),

-- Each day with how many submitting units the unit expects and how many of them have reported in the year
-- so far (0 before the first is valid or has reported).
spine as (
    select
        unit_days_spine.*,
        coalesce(expected.units_expected, 0) as units_expected,
        coalesce(reported.units_reported, 0) as units_reported
    from unit_days_spine
    asof left join expected_cumulative as expected
        on
            unit_days_spine.unit_code = expected.unit_code
            and unit_days_spine.as_of_date >= expected.day
    asof left join reported_cumulative as reported
        on
            unit_days_spine.unit_code = reported.unit_code
            and unit_days_spine.year = reported.year
            and unit_days_spine.as_of_date >= reported.day
),

-- Each spine day takes the running sums of the latest day with data on or before it, in the same
-- unit and year (0 before the first one).
with_current as (
    select
        spine.*,
        coalesce(cur.building_count, 0) as building_count,
        coalesce(cur.new_area, 0) as new_area,
        coalesce(cur.prefab_area, 0) as prefab_area,
        coalesce(cur.res_pub_prefab_area, 0) as res_pub_prefab_area,
        coalesce(cur.residential_area, 0) as residential_area,
        coalesce(cur.residential_full_decoration_area, 0) as residential_full_decoration_area,
        coalesce(cur.green_area, 0) as green_area,
        coalesce(cur.recognised_count, 0) as recognised_count,
        coalesce(cur.grade_a_count, 0) as grade_a_count,
        coalesce(cur.grade_aa_count, 0) as grade_aa_count,
        coalesce(cur.grade_aaa_count, 0) as grade_aaa_count,
        coalesce(cur.rated_area, 0) as rated_area,
        coalesce(cur.rated_area_x_rate, 0) as rated_area_x_rate
    from spine
    asof left join sparse_cumulative as cur
        on
            spine.unit_code = cur.unit_code
            and spine.year = cur.year
            and spine.as_of_date >= cur.day
),

-- The previous year's span: the latest day with data on or before the same day one year earlier.
with_previous as (
    select
        with_current.*,
        coalesce(prev.prefab_area, 0) as prefab_area_prev,
        coalesce(prev.res_pub_prefab_area, 0) as res_pub_prefab_area_prev,
        cast(targets.target_prefab_floor_area_m2 * 100 as bigint) as target_prefab_area,
        cast(targets.target_res_pub_floor_area_m2 * 100 as bigint) as target_res_pub_area,
        targets.target_prefab_floor_area_m2,
        targets.target_res_pub_floor_area_m2,
        targets.target_prefab_share_pct
    from with_current
    asof left join sparse_cumulative as prev
        on
            with_current.unit_code = prev.unit_code
            and with_current.prev_year = prev.year
            and with_current.prev_as_of_date >= prev.day
    left join targets
        on
            with_current.unit_code = targets.unit_code
            and with_current.year = targets.year
)

select
    cast(unit_code as varchar) as unit_code,
    cast(unit_level as varchar) as unit_level,
    cast(as_of_date as date) as as_of_date,
    cast(year as integer) as year,
    cast(units_expected as integer) as units_expected,
    cast(units_reported as integer) as units_reported,
    cast(building_count as bigint) as ytd_building_count,
    cast({{ scale_integer('new_area') }} as decimal(18, 2)) as ytd_new_floor_area_m2,
    cast({{ scale_integer('prefab_area') }} as decimal(18, 2)) as ytd_prefab_floor_area_m2,
    cast({{ scale_integer('prefab_area_prev') }} as decimal(18, 2)) as ytd_prefab_floor_area_prev_m2,
    cast({{ int_div_round_half_up(
        'prefab_area - prefab_area_prev', 'prefab_area_prev', multiplier=100
    ) }} as decimal(18, 2)) as ytd_prefab_yoy_pct,
    cast({{ scale_integer('res_pub_prefab_area') }} as decimal(18, 2)) as ytd_res_pub_prefab_floor_area_m2,
    cast({{ scale_integer('res_pub_prefab_area_prev') }} as decimal(18, 2))
        as ytd_res_pub_prefab_floor_area_prev_m2,
    cast({{ int_div_round_half_up(
        'res_pub_prefab_area - res_pub_prefab_area_prev', 'res_pub_prefab_area_prev', multiplier=100
    ) }} as decimal(18, 2)) as ytd_res_pub_prefab_yoy_pct,
    cast({{ int_div_round_half_up(
        'prefab_area', 'new_area', multiplier=100
    ) }} as decimal(18, 2)) as ytd_prefab_share_pct,
    cast(target_prefab_floor_area_m2 as decimal(18, 2)) as annual_target_prefab_floor_area_m2,
    cast({{ int_div_round_half_up(
        'prefab_area', 'target_prefab_area', multiplier=100
    ) }} as decimal(18, 2)) as target_completion_pct,
    cast(target_res_pub_floor_area_m2 as decimal(18, 2)) as annual_target_res_pub_floor_area_m2,
    cast({{ int_div_round_half_up(
        'res_pub_prefab_area', 'target_res_pub_area', multiplier=100
    ) }} as decimal(18, 2)) as res_pub_target_completion_pct,
    cast(target_prefab_share_pct as decimal(18, 2)) as annual_target_prefab_share_pct,
    cast(recognised_count as bigint) as ytd_recognised_building_count,
    cast(grade_a_count as bigint) as ytd_grade_a_count,
    cast(grade_aa_count as bigint) as ytd_grade_aa_count,
    cast(grade_aaa_count as bigint) as ytd_grade_aaa_count,
    cast({{ int_div_round_half_up(
        'residential_full_decoration_area', 'residential_area', multiplier=100
    ) }} as decimal(18, 2)) as ytd_full_decoration_share_pct,
    cast({{ int_div_round_half_up(
        'green_area', 'new_area', multiplier=100
    ) }} as decimal(18, 2)) as ytd_green_building_share_pct,
    -- rated_area_x_rate is P x 10 x area cents: divide by area cents x 10 for P.
    cast({{ int_div_round_half_up(
        'rated_area_x_rate', 'rated_area * 10'
    ) }} as decimal(18, 2)) as ytd_avg_assembly_rate_pct
from with_previous
