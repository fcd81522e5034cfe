{#
    The building chain (int_buildings_deduplicated -> int_buildings_assessed -> fct_building) is incremental
    on the building key (project_code, building_no), with the keys int_building_versions keeps.

    A build recomputes the buildings with a version in a unit-period slice that changed since the model's last
    build: a slice with new rows (a new file or a correction) or with a submission superseded since (a
    correction that drops rows, or empties the slice). Those buildings' rows are deleted (pre-hook: a dropped
    building leaves) and recomputed from all their rows; every other building is kept. Each model keeps its
    own watermark (building_chain_watermark(), written by its post-hook after a successful build), so a model
    that failed or was skipped catches up next time. With no watermark, or with --full-refresh, everything is
    built: the result is the same (tests/publishing/test_incremental_marts.py proves it row by row).
#}
{% macro building_chain_watermark() -%}
    intermediate.{{ this.name }}_watermark
{%- endmacro %}

{% macro building_chain_changed_keys() -%}
    select distinct
        versions.project_code,
        versions.building_no
    from {{ ref('int_building_versions') }} as versions
    inner join (
        select distinct
            changed_versions.unit_code,
            changed_versions.period
        from {{ ref('int_building_versions') }} as changed_versions
        cross join (
            select coalesce(max(changes_seen_until), cast('1900-01-01' as timestamp)) as changes_seen_until
            from {{ building_chain_watermark() }}
        ) as watermark
        where
            changed_versions.loaded_at > watermark.changes_seen_until
            or changed_versions.submission_id in (
                select ledger.submission_id
                from {{ source('dq', 'submission_ledger') }} as ledger
                where
                    ledger.kind = 'buildings'
                    and ledger.status = 'superseded'
                    and ledger.status_changed_at > watermark.changes_seen_until
            )
    ) as changed_slices
        on
            versions.unit_code = changed_slices.unit_code
            and versions.period = changed_slices.period
{%- endmacro %}

{#- Post-hook of each model of the chain: the latest ledger change it has taken in. -#}
{% macro building_chain_record_watermark() -%}
    create or replace table {{ building_chain_watermark() }} as
    select greatest(
        (select max(loaded_at) from {{ ref('int_building_versions') }}),
        (select max(status_changed_at) from {{ source('dq', 'submission_ledger') }})
    ) as changes_seen_until
{%- endmacro %}
