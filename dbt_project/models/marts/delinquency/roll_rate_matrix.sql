-- Portfolio roll-rate matrix: share of loans (count_rate) and of balance (balance_rate) in bucket i at
-- month-end t that are in state j at t+1. Rows of one (month_end, from_bucket) sum to 1.
{{ config(materialized='external') }}
with m as (
    select month_end, next_month_end, from_bucket, to_bucket, any_value(from_order) as from_order,
           any_value(to_order) as to_order, sum(loans) as loans, sum(balance_from) as balance_from
    from {{ ref('roll_rates') }}
    group by month_end, next_month_end, from_bucket, to_bucket
)
select
    *,
    loans / sum(loans) over w as count_rate,
    coalesce(balance_from / nullif(sum(balance_from) over w, 0), 0) as balance_rate
from m
window w as (partition by month_end, from_bucket)
