-- When each customer became known bad (for the graph's known-bad density): the first blacklist listing matched
-- to the customer, or the moment an installment reached 30 days past due (due date + 30 days, still unpaid).
{{ config(materialized='table', schema='features_work') }}

select customer_id, min(bad_at) as bad_at, arg_min(reason, bad_at) as reason
from (
    select customer_id, listed_at as bad_at, 'blacklist' as reason
    from {{ ref('feat_src_blacklist_hits') }}
    union all
    select customer_id, cast(due_date as timestamp) + interval 30 day as bad_at, 'dpd30' as reason
    from {{ ref('feat_src_installments') }}
    where paid_off_at is null or paid_off_at >= cast(due_date as timestamp) + interval 30 day
)
group by customer_id
