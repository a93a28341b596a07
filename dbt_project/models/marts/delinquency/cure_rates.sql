-- Cure rates: of the loans delinquent (M1..M6, and all of them together as 'M1+') at month-end t
-- (month_end), the share that is current (C) at t+1 (cure_rate), paid off (payoff_rate), either of the two
-- (cure_or_payoff_rate), and in a worse bucket (worsen_rate); count based, and balance based (_balance).
{{ config(materialized='external') }}
with r as (
    select month_end, next_month_end, from_bucket, from_order, from_order as row_from_order,
           to_bucket, to_order, loans, balance_from
    from {{ ref('roll_rates') }}
    where from_bucket <> 'C'
),
both_ as (
    select * from r
    union all
    select month_end, next_month_end, 'M1+', 1, row_from_order, to_bucket, to_order, loans, balance_from from r
)
select
    month_end, next_month_end, from_bucket,
    any_value(from_order) as from_order,
    sum(loans) as loans,
    sum(balance_from) as balance,
    coalesce(sum(loans) filter (where to_bucket = 'C'), 0) / sum(loans) as cure_rate,
    coalesce(sum(loans) filter (where to_bucket = 'PAID_OFF'), 0) / sum(loans) as payoff_rate,
    coalesce(sum(loans) filter (where to_bucket in ('C', 'PAID_OFF')), 0) / sum(loans) as cure_or_payoff_rate,
    coalesce(sum(loans) filter (where to_bucket <> 'PAID_OFF' and to_order > row_from_order), 0) / sum(loans) as worsen_rate,
    coalesce(sum(balance_from) filter (where to_bucket = 'C') / nullif(sum(balance_from), 0), 0) as cure_rate_balance,
    coalesce(sum(balance_from) filter (where to_bucket in ('C', 'PAID_OFF')) / nullif(sum(balance_from), 0), 0) as cure_or_payoff_rate_balance
from both_
group by month_end, next_month_end, from_bucket
