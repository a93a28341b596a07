-- Portfolio flow rates: for bucket k (M1..M7+) at month-end t+1 (month_end), loans / balance in k at t+1
-- divided by loans / balance in bucket k-1 at t (prev_month_end). Stock-based (practitioner definition).
{{ config(materialized='external') }}
with b as (
    select month_end, bucket, any_value(bucket_order) as bucket_order, sum(loans) as loans, sum(balance) as balance
    from {{ ref('delinquency_buckets') }}
    group by month_end, bucket
),
months as (select distinct month_end from b),
grid as (
    select m.month_end, k.bucket, k.bucket_order
    from months m
    cross join (values ('M1', 1), ('M2', 2), ('M3', 3), ('M4', 4), ('M5', 5), ('M6', 6), ('M7+', 7)) as k(bucket, bucket_order)
)
select
    g.month_end,
    pm.month_end as prev_month_end,
    case g.bucket_order when 1 then 'C' else 'M' || (g.bucket_order - 1) end as from_bucket,
    g.bucket as to_bucket,
    g.bucket_order,
    coalesce(p.loans, 0) as from_loans,
    coalesce(p.balance, 0) as from_balance,
    coalesce(c.loans, 0) as to_loans,
    coalesce(c.balance, 0) as to_balance,
    coalesce(c.loans, 0) / nullif(p.loans, 0) as flow_rate_count,
    coalesce(c.balance, 0) / nullif(p.balance, 0) as flow_rate_balance
from grid g
join months pm on pm.month_end = last_day(g.month_end - interval 1 month)
left join b c on c.month_end = g.month_end and c.bucket_order = g.bucket_order
left join b p on p.month_end = pm.month_end and p.bucket_order = g.bucket_order - 1
