-- Payments with the borrower attached.
{{ config(materialized='table', schema='features_work') }}

select r.payment_id, d.customer_id, r.loan_id, r.paid_at, r.paid_amount, r.payment_channel,
       extract(hour from r.paid_at)::integer as paid_hour
from {{ ref('stg_repayments') }} r
join {{ ref('stg_drawdowns') }} d using (loan_id)
