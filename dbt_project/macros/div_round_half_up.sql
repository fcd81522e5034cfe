{#
    Exact division rounded half-up (away from zero), without going through DOUBLE.

    DuckDB turns DECIMAL / DECIMAL into DOUBLE, so (45.5 + 15 + 15.45) / 100 * 100 comes back as
    75.94999... and rounds to 75.9 instead of 76.0. These macros take the quotient in integer
    arithmetic and return a DECIMAL with `digits` decimals; null when an operand is null or the
    denominator is 0.

    int_div_round_half_up: both operands are integers (e.g. areas in hundredths of a m²), result is
        numerator / denominator * multiplier. Cheap: use it on large tables.
    div_round_half_up: both operands are DECIMALs with at most `scale` decimals; they are scaled to
        HUGEINT first (exact). Pass any multiplier in the numerator: div_round_half_up('a * 100', 'b').
#}
{% macro int_div_round_half_up(numerator, denominator, digits=2, multiplier=1) -%}
    {%- set n = '(' ~ numerator ~ ')' -%}
    {%- set d = '(' ~ denominator ~ ')' -%}
    {%- set q -%}
        ((2 * abs({{ n }}) * {{ multiplier * 10 ** digits }} + abs({{ d }})) // (2 * abs({{ d }})))
    {%- endset -%}
    {%- set q_signed -%}
        (case when ({{ n }} < 0) != ({{ d }} < 0) then -{{ q }} else {{ q }} end)
    {%- endset -%}
    (case
        when {{ d }} = 0 then null
        else {{ scale_integer(q_signed, digits) }}
    end)
{%- endmacro %}


{% macro div_round_half_up(numerator, denominator, digits=2, scale=4) -%}
    {{ int_div_round_half_up(
        'cast(cast(' ~ numerator ~ ' as decimal(38, ' ~ scale ~ ')) * ' ~ 10 ** scale ~ ' as hugeint)',
        'cast(cast(' ~ denominator ~ ' as decimal(38, ' ~ scale ~ ')) * ' ~ 10 ** scale ~ ' as hugeint)',
        digits
    ) }}
{%- endmacro %}


{#
    An integer count of 10^-digits units as an exact DECIMAL(38, digits): 1234 with digits=2 -> 12.34.
#}
{% macro scale_integer(value, digits=2) -%}
    {%- if digits > 0 -%}
        (cast({{ value }} as decimal(38, 0)) * cast('{{ "%.*f" | format(digits, 10 ** (0 - digits)) }}' as decimal(38, {{ digits }})))
    {%- else -%}
        cast({{ value }} as decimal(38, 0))
    {%- endif -%}
{%- endmacro %}
