-- One row per installment with the time it was paid off (payments allocated to the oldest installment first:
-- the first payment at which the loan's cumulative payments reach the cumulative amount due, within 1 CNY).
-- Every repayment feature and the spine's DPD are computed as of T from this: an installment counts as paid at
-- T only when paid_off_at < T.
{{ config(materialized='table', schema='features_work') }}

with sched as (
    select
        s.loan_id, s.installment_no, s.due_date, s.principal_due, s.interest_due, s.amount_due,
        d.customer_id, d.line_id, d.drawdown_at, d.term_months, d.product,
        max(s.installment_no) over (partition by s.loan_id) as n_installments,
        sum(round(s.amount_due * 100)) over (
            partition by s.loan_id order by s.installment_no rows between unbounded preceding and current row
        ) - 100 as due_threshold_c
    from {{ ref('stg_repayment_schedule') }} s
    join {{ ref('stg_drawdowns') }} d using (loan_id)
),
pays as (
    select
        loan_id, paid_at,
        sum(round(paid_amount * 100)) over (
            partition by loan_id order by paid_at, payment_id rows between unbounded preceding and current row
        ) as cum_paid_c
    from {{ ref('stg_repayments') }}
)
select sched.* exclude (due_threshold_c), p.paid_at as paid_off_at
from sched
asof left join pays p
    on p.loan_id = sched.loan_id and sched.due_threshold_c <= p.cum_paid_c
