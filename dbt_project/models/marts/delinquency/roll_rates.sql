-- Roll-rate base: loans on book in bucket C..M6 at month-end t (month_end) and their state at t+1
-- (to_bucket: C..M7+, or PAID_OFF). One row per month_end x cohort x product x channel x purpose x from x to.
-- Only month-ends whose next month-end is observed. loans / balance_from are the from-bucket's loans and
-- balance at t; balance_to is the same loans' balance at t+1.
{{ config(materialized='external') }}
select
    month_end,
    last_day(month_end + interval 1 day) as next_month_end,
    cohort_month, product, channel, declared_purpose,
    bucket as from_bucket,
    next_bucket as to_bucket,
    any_value(bucket_order) as from_order,
    any_value({{ marts_bucket_order('next_bucket') }}) as to_order,
    count(*) as loans,
    sum(outstanding_principal) as balance_from,
    sum(next_outstanding_principal) as balance_to
from {{ ref('loan_month_end') }}
where bucket not in ('PAID_OFF', 'M7+') and next_bucket is not null
group by all
