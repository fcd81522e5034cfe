{#
    Fails for every row where the SQL expression is false (null counts as passing, like a CHECK).
#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
