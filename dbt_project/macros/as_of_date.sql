{#
    The day a build takes as today: var as_of_date (a date, for tests and for rebuilding the past), else
    today in Asia/Shanghai, where the units report. The nightly run starts at 02:00 Shanghai time, which is
    18:00 UTC the day before: UTC's date would be a day behind, and on the 1st of a month would still take
    the month before as the current one.
#}
{% macro as_of_date() -%}
    {%- set day = var('as_of_date', none) -%}
    {%- if day is none -%}
        cast(timezone('Asia/Shanghai', current_timestamp) as date)
    {%- else -%}
        cast('{{ day }}' as date)
    {%- endif -%}
{%- endmacro %}
