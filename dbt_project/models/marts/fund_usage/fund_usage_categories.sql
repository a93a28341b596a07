-- Spend by merchant category within the monitoring window: one row per cohort x product x channel x
-- declared purpose x spend category (additive: loans counts loans with any spend in the category).
{{ config(materialized='external') }}
select
    cohort_month, product, channel, declared_purpose, spend_category,
    bool_or(is_prohibited) as is_prohibited,
    any_value(prohibited_group) as prohibited_group,
    bool_or(matches_purpose) as matches_purpose,
    count(distinct loan_id) as loans,
    count(*) as flows,
    sum(flow_amount) as amount
from {{ ref('fund_usage_flows') }}
where in_window
group by cohort_month, product, channel, declared_purpose, spend_category
