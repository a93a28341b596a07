{#
  Loan performance engine: schedules + repayments -> DPD, bucket, outstanding principal and status
  of any loan on any date, set-based (window functions and ASOF joins, no per-loan loops).

  Definitions (DESIGN.md section 5):
  * Payments are pooled per loan and allocated to the oldest installment first; inside an
    installment interest is settled before principal. Installment k is covered on the first day
    the cumulative amount paid reaches the cumulative amount due through k.
  * DPD on date t (end of day) = t - due date of the oldest installment due on or before t that
    is not covered by payments made on or before t; 0 when there is none. A loan "reaches DPD >= N"
    when some installment is still uncovered at the end of its due date + N days.
  * Paid off: the first payment day on which the loan owes nothing more: everything due so far
    plus the principal not yet due (early settlement waives future interest).
  * Charge-off (written off): DPD > charge_off_dpd (var, default 180), i.e. on the first day an
    installment is still uncovered at the end of due date + 181 days. Terminal: later payments are
    recoveries and do not bring the loan back on book.
  * Buckets: C (DPD 0), M1 1-30, M2 31-60, M3 61-90, M4 91-120, M5 121-150, M6 151-180,
    M7+ > 180 (= written off); PAID_OFF once fully repaid.

  Usage for an arbitrary date (any model or `dbt compile --inline`):
      select * from {{ marts_loan_state_at("date '2026-03-15'") }}
#}

{% macro marts_eps() %}0.005{% endmacro %}

{% macro marts_charge_off_dpd() %}{{ var('charge_off_dpd', 180) | int }}{% endmacro %}

{% macro marts_bucket(dpd) -%}
    case
        when {{ dpd }} <= 0 then 'C'
        when {{ dpd }} <= 30 then 'M1'
        when {{ dpd }} <= 60 then 'M2'
        when {{ dpd }} <= 90 then 'M3'
        when {{ dpd }} <= 120 then 'M4'
        when {{ dpd }} <= 150 then 'M5'
        when {{ dpd }} <= 180 then 'M6'
        else 'M7+'
    end
{%- endmacro %}

{# Bucket order for sorting (C=0 ... M7+=7, PAID_OFF=8). #}
{% macro marts_bucket_order(bucket) -%}
    case {{ bucket }} when 'C' then 0 when 'M1' then 1 when 'M2' then 2 when 'M3' then 3 when 'M4' then 4
        when 'M5' then 5 when 'M6' then 6 when 'M7+' then 7 when 'PAID_OFF' then 8 end
{%- endmacro %}

{#
  CTEs shared by every loan-performance model; place after `with`. Defines:
    perf_totals   (loan)              principal, totals of the schedule, first / last due date
    perf_sched    (loan, seq 0..n)    cumulative due per installment with the next installment carried
    perf_due_cum  (loan, due_date)    cumulative amount and principal due through each due date
    perf_pay_cum  (loan, paid_date)   cumulative amount paid
    perf_inst     (loan, installment) cover date and days late of every installment
    perf_events   (loan)              paid_off_date, charge_off_date, first dates of DPD >= 1/30/60/90, FPD
#}
{% macro marts_perf_ctes() %}
perf_loans as (
    select loan_id, principal, disbursed_date from {{ ref('stg_drawdowns') }}
),
perf_sched0 as (
    select
        loan_id, installment_no, due_date, principal_due, interest_due, amount_due,
        row_number() over w as seq,
        sum(amount_due) over w as cum_due,
        sum(principal_due) over w as cum_principal
    from {{ ref('stg_repayment_schedule') }}
    where amount_due > 0  -- a zero installment can never be unpaid
    window w as (partition by loan_id order by installment_no rows between unbounded preceding and current row)
),
perf_totals as (
    select
        l.loan_id, l.principal, l.disbursed_date,
        coalesce(s.total_principal, l.principal) as total_principal,
        coalesce(s.total_due, l.principal) as total_due,
        coalesce(s.n_installments, 0) as n_installments,
        s.first_due_date, s.first_amount_due, s.maturity_date
    from perf_loans l
    left join (
        select loan_id, sum(principal_due) as total_principal, sum(amount_due) as total_due,
               count(*) as n_installments, min(due_date) as first_due_date, max(due_date) as maturity_date,
               max(case when seq = 1 then amount_due end) as first_amount_due
        from perf_sched0 group by loan_id
    ) s using (loan_id)
),
perf_sched as (
    select *,
        lead(due_date) over w as next_due_date,
        lead(principal_due) over w as next_principal_due,
        lead(interest_due) over w as next_interest_due,
        lead(seq) over w as next_seq
    from (
        select loan_id, seq, due_date, principal_due, interest_due, amount_due, cum_due, cum_principal from perf_sched0
        union all
        select loan_id, 0, null::date, 0, 0, 0, 0, 0 from perf_totals
    )
    window w as (partition by loan_id order by seq)
),
perf_due_cum as (
    select loan_id, due_date, max(cum_due) as cum_due, max(cum_principal) as cum_principal
    from perf_sched0 group by loan_id, due_date
),
perf_pay_cum as (
    select loan_id, paid_date, paid,
           sum(paid) over (partition by loan_id order by paid_date rows between unbounded preceding and current row) as cum_paid
    from (select loan_id, paid_date, sum(paid_amount) as paid from {{ ref('stg_repayments') }} group by loan_id, paid_date)
),
perf_payoff as (
    select p.loan_id, min(p.paid_date) as paid_off_date
    from perf_pay_cum p
    join perf_totals t on t.loan_id = p.loan_id
    asof left join perf_due_cum d on d.loan_id = p.loan_id and d.due_date <= p.paid_date
    where p.cum_paid >= coalesce(d.cum_due, 0) + t.total_principal - coalesce(d.cum_principal, 0) - {{ marts_eps() }}
    group by p.loan_id
),
perf_inst as (
    -- cover date = first day the pooled payments reach the cumulative due through this installment
    select
        s.loan_id, s.installment_no, s.seq, s.due_date, s.principal_due, s.interest_due, s.amount_due, s.cum_due,
        least(p.paid_date, po.paid_off_date) as covered_date
    from perf_sched0 s
    asof left join perf_pay_cum p on p.loan_id = s.loan_id and s.cum_due - {{ marts_eps() }} <= p.cum_paid
    left join perf_payoff po on po.loan_id = s.loan_id
),
perf_events0 as (
    select
        t.*,
        po.paid_off_date,
        {%- for n in [1, 30, 60, 90] %}
        min(case when coalesce(i.covered_date, date '9999-12-31') > i.due_date + {{ n }} then i.due_date + {{ n }} end) as first_dpd{{ n }}_date,
        {%- endfor %}
        min(case when coalesce(i.covered_date, date '9999-12-31') > i.due_date + {{ marts_charge_off_dpd() }} + 1
                 then i.due_date + {{ marts_charge_off_dpd() }} + 1 end) as charge_off_date,
        max(case when i.seq = 1 then i.covered_date end) as first_installment_covered_date
    from perf_totals t
    left join perf_payoff po on po.loan_id = t.loan_id
    left join perf_inst i on i.loan_id = t.loan_id
    group by all
),
perf_events as (
    select e.*, coalesce(p.cum_paid, 0) as cum_paid_at_charge_off
    from perf_events0 e
    asof left join perf_pay_cum p on p.loan_id = e.loan_id and p.paid_date <= e.charge_off_date
)
{% endmacro %}

{#
  State of loans at given dates. `points` names a CTE or relation with (loan_id, as_of_date), defined
  in the same WITH as marts_perf_ctes(). Returns one row per point.
#}
{% macro marts_state_select(points) %}
select
    pt.loan_id,
    pt.as_of_date,
    pt.cum_paid,
    e.total_principal,
    (e.charge_off_date <= pt.as_of_date) is true as is_written_off,
    (e.paid_off_date <= pt.as_of_date) is true as is_paid_off,
    case
        when (e.paid_off_date <= pt.as_of_date) is true then 0
        when s.next_due_date <= pt.as_of_date then datediff('day', s.next_due_date, pt.as_of_date)
        else 0
    end::integer as dpd,
    case when (e.paid_off_date <= pt.as_of_date) is true then null
         when s.next_due_date <= pt.as_of_date then s.next_seq end as oldest_unpaid_installment,
    case when (e.paid_off_date <= pt.as_of_date) is true then 0.0
         else greatest(coalesce(d.cum_due, 0) - pt.cum_paid, 0) end as overdue_amount,
    case when (e.paid_off_date <= pt.as_of_date) is true then 0.0
         else greatest(e.total_principal - (
                  coalesce(s.cum_principal, 0)
                  + coalesce(least(greatest(pt.cum_paid - s.cum_due - s.next_interest_due, 0), s.next_principal_due), 0)
              ), 0) end as outstanding_principal,
    case when (e.charge_off_date <= pt.as_of_date) is true
         then pt.cum_paid - e.cum_paid_at_charge_off else 0.0 end as recovered_after_charge_off
from (
    select x.loan_id, x.as_of_date, coalesce(p.cum_paid, 0) as cum_paid
    from {{ points }} x
    asof left join perf_pay_cum p on p.loan_id = x.loan_id and p.paid_date <= x.as_of_date
) pt
join perf_events e on e.loan_id = pt.loan_id
asof left join perf_sched s on s.loan_id = pt.loan_id and s.cum_due <= pt.cum_paid + {{ marts_eps() }}
asof left join perf_due_cum d on d.loan_id = pt.loan_id and d.due_date <= pt.as_of_date
{% endmacro %}

{# Status and bucket columns from a state row (alias `st`). #}
{% macro marts_status_columns(st) -%}
    case when {{ st }}.is_written_off then 'written_off'
         when {{ st }}.is_paid_off then 'paid_off'
         else 'active' end as status,
    case when {{ st }}.is_written_off then 'M7+'
         when {{ st }}.is_paid_off then 'PAID_OFF'
         else {{ marts_bucket(st ~ '.dpd') }} end as bucket
{%- endmacro %}

{# Every loan's state on one date (a SQL date expression): a subquery usable in FROM. #}
{% macro marts_loan_state_at(as_of) %}
(
    with {{ marts_perf_ctes() }},
    perf_points as (select loan_id, cast({{ as_of }} as date) as as_of_date from perf_totals),
    perf_state as ({{ marts_state_select('perf_points') }})
    select st.*, {{ marts_status_columns('st') }}
    from perf_state st
)
{% endmacro %}
