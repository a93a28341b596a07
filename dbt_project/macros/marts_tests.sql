{# Generic data tests for the marts (dbt_utils is not reachable offline). Each returns the offending rows. #}

{# Every row satisfies a boolean SQL expression (null counts as a failure unless allow_null). #}
{% test marts_expression_holds(model, expression, allow_null=false) %}
  select * from {{ model }}
  where not coalesce(({{ expression }}), {{ 'true' if allow_null else 'false' }})
{% endtest %}

{# Column is >= 0 (nulls allowed), within a small tolerance for float noise. #}
{% test marts_non_negative(model, column_name) %}
  select * from {{ model }} where {{ column_name }} < -0.005
{% endtest %}

{# Column lies in [min_value, max_value] (nulls allowed). #}
{% test marts_between(model, column_name, min_value=0, max_value=1) %}
  select * from {{ model }}
  where {{ column_name }} < {{ min_value }} - 1e-9 or {{ column_name }} > {{ max_value }} + 1e-9
{% endtest %}

{# Shares sum to 1 within each group (groups whose shares are all null are skipped). #}
{% test marts_sums_to_one(model, column_name, group_by) %}
  select {{ group_by | join(', ') }}, sum({{ column_name }}) as total
  from {{ model }}
  group by {{ group_by | join(', ') }}
  having count({{ column_name }}) > 0 and abs(sum({{ column_name }}) - 1) > 1e-6
{% endtest %}

{# Column never decreases along order_by within each partition ("ever" metrics over MOB). #}
{% test marts_monotone_non_decreasing(model, column_name, partition_by, order_by) %}
  select * from (
    select {{ partition_by | join(', ') }}, {{ order_by }}, {{ column_name }} as value,
           lag({{ column_name }}) over (partition by {{ partition_by | join(', ') }} order by {{ order_by }}) as previous_value
    from {{ model }}
  )
  where value < previous_value - 1e-9
{% endtest %}

{# The model has exactly as many rows as another relation (optionally filtered). #}
{% test marts_same_row_count(model, compare_to, compare_filter='true') %}
  select a.n as model_rows, b.n as compare_rows
  from (select count(*) as n from {{ model }}) a
  cross join (select count(*) as n from {{ compare_to }} where {{ compare_filter }}) b
  where a.n <> b.n
{% endtest %}
