-- Month-end bucket distribution: one row per month-end x cohort x product x channel x declared purpose x bucket.
-- The book at a month-end = loans not closed before it: active loans (C, M1..M6) plus the loans written off
-- during that month (M7+). Paid-off loans are not on book. Shares are of the whole book of the month-end
-- (they sum to 1 per month-end); dashboards re-derive shares after filtering from loans / balance.
{{ config(materialized='external') }}
with cells as (
    select
        month_end, cohort_month, product, channel, declared_purpose, bucket,
        any_value(bucket_order) as bucket_order,
        count(*) as loans,
        sum(outstanding_principal) as balance,
        sum(overdue_amount) as overdue_amount
    from {{ ref('loan_month_end') }}
    where bucket <> 'PAID_OFF'
    group by all
)
select
    *,
    loans / sum(loans) over (partition by month_end) as count_share,
    coalesce(balance / nullif(sum(balance) over (partition by month_end), 0), 0) as balance_share
from cells
