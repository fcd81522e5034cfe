{#
    The table holding the latest ledger change fct_indicators_daily has taken in (one row,
    changes_seen_until): written by the model's post-hook when a build of it succeeds, read by its next
    incremental build to find what was loaded or superseded since.
#}
{% macro indicators_watermark() -%}
    intermediate.fct_indicators_daily_watermark
{%- endmacro %}
