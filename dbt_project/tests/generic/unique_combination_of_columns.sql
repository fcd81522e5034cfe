{#
    Fails for every combination of the given columns that occurs more than once.
    Nulls compare equal (GROUP BY semantics), so a null in a key column is a value like any other.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count(*) as n_records
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
