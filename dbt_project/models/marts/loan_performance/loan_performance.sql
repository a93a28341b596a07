-- One row per loan: attributes, lifetime events and the state on the data date (marts_as_of).
{{ config(materialized='external') }}
with {{ marts_perf_ctes() }},
data_date as (select as_of_date from {{ ref('marts_as_of') }}),
perf_points as (
    select loan_id, (select as_of_date from data_date) as as_of_date from perf_totals
    union
    select loan_id, charge_off_date from perf_events where charge_off_date <= (select as_of_date from data_date)
),
perf_state as ({{ marts_state_select('perf_points') }}),
max_dpd as (
    -- deepest DPD reached on any day up to the data date (end-of-day convention)
    select i.loan_id,
           max(greatest(datediff('day', i.due_date, least(coalesce(i.covered_date, a.as_of_date + 1), a.as_of_date + 1)) - 1, 0)) as max_dpd
    from perf_inst i cross join data_date a
    where i.due_date <= a.as_of_date
    group by i.loan_id
)
select
    l.loan_id, l.customer_id, l.line_id, l.partner_id, l.product,
    coalesce(l.channel, 'unknown') as channel, l.declared_purpose,
    l.cohort_month, l.disbursed_date, l.principal, l.term_months, l.annual_rate,
    e.n_installments, e.first_due_date, e.maturity_date, e.total_due,
    st.as_of_date,
    datediff('month', l.cohort_month, st.as_of_date)::integer as mob,
    st.dpd,
    {{ marts_status_columns('st') }},
    st.outstanding_principal,
    st.overdue_amount,
    st.cum_paid as total_paid,
    coalesce(md.max_dpd, 0)::integer as max_dpd,
    case when e.paid_off_date <= st.as_of_date then e.paid_off_date end as paid_off_date,
    case when e.charge_off_date <= st.as_of_date then e.charge_off_date end as charge_off_date,
    co.outstanding_principal as written_off_principal,
    st.recovered_after_charge_off,
    {%- for n in [1, 30, 60, 90] %}
    case when e.first_dpd{{ n }}_date <= st.as_of_date then e.first_dpd{{ n }}_date end as first_dpd{{ n }}_date,
    {%- endfor %}
    (e.first_dpd30_date <= st.as_of_date) is true as ever_dpd30,
    (e.first_dpd90_date <= st.as_of_date) is true as ever_dpd90,
    -- FPD_N: the first installment is still not paid at the end of its due date + N days (null until observable)
    {%- for n in [7, 30] %}
    case when e.first_due_date + {{ n }} <= st.as_of_date
         then coalesce(e.first_installment_covered_date, date '9999-12-31') > e.first_due_date + {{ n }} end as fpd{{ n }},
    {%- endfor %}
    -- A-card label: DPD >= 30 reached by the end of MOB 6 (null when MOB 6 is not yet complete)
    last_day(l.cohort_month + interval 6 month) as mob6_end_date,
    last_day(l.cohort_month + interval 6 month) <= st.as_of_date as mob6_observed,
    case when last_day(l.cohort_month + interval 6 month) <= st.as_of_date
         then (e.first_dpd30_date <= last_day(l.cohort_month + interval 6 month)) is true end as ever_dpd30_mob6
from {{ ref('stg_drawdowns') }} l
join perf_events e on e.loan_id = l.loan_id
join perf_state st on st.loan_id = l.loan_id and st.as_of_date = (select as_of_date from data_date)
left join perf_state co on co.loan_id = l.loan_id and co.as_of_date = e.charge_off_date
left join max_dpd md on md.loan_id = l.loan_id
where l.disbursed_date <= st.as_of_date
