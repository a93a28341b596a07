-- Promises to pay with their outcome: a promise (collection action with result promise_to_pay) is kept when a
-- payment on the same loan arrives within the promise window after it, else broken. The outcome is only known
-- once the window has passed, so the record's time is outcome_at = promised_at + window (point in time).
{{ config(materialized='table', schema='features_work') }}

{% set window_days = 7 %}
with promises as (
    select c.action_id, d.customer_id, c.loan_id, c.action_at as promised_at
    from {{ ref('stg_collection_actions') }} c
    join {{ ref('stg_drawdowns') }} d using (loan_id)
    where c.result = 'promise_to_pay'
)
select p.action_id, p.customer_id, p.loan_id, p.promised_at,
       p.promised_at + interval {{ window_days }} day as outcome_at,
       coalesce(bool_or(r.paid_at > p.promised_at and r.paid_at <= p.promised_at + interval {{ window_days }} day),
                false) as kept
from promises p
left join {{ ref('stg_repayments') }} r
    on r.loan_id = p.loan_id and r.paid_at > p.promised_at and r.paid_at <= p.promised_at + interval {{ window_days }} day
group by p.action_id, p.customer_id, p.loan_id, p.promised_at
