{# SQL helpers used by the feature catalog (features/catalog.yaml) and the feature-mart models. #}

{# Worst repayment status among the last k months of a bureau monthly-status string (oldest first, last char =
   report month): '1'..'7' = months past due, anything else ('N' normal, 'C' closed, '*' no record) = 0. #}
{% macro features_worst_status(col, k) -%}
  coalesce(list_max(list_transform(string_split(right({{ col }}, {{ k }}), ''),
                                   lambda x: case when x between '1' and '7' then ascii(x) - 48 else 0 end)), 0)
{%- endmacro %}

{# Number of months past due ('1'..'7') among the last k months of a bureau monthly-status string. #}
{% macro features_overdue_months(col, k) -%}
  length(regexp_replace(right({{ col }}, {{ k }}), '[^1-7]', '', 'g'))
{%- endmacro %}
