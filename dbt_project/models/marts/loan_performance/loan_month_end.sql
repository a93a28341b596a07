-- One row per loan and month-end, from the disbursement month (MOB 0) to the month-end in which the
-- loan closed (paid off or written off) or the last complete month-end of the data (marts_as_of).
-- The closing row carries bucket PAID_OFF or M7+ (written off); there are no rows after it.
{{ config(materialized='external') }}
with {{ marts_perf_ctes() }},
data_date as (select * from {{ ref('marts_as_of') }}),
month_ends as (
    select last_day(m::date) as month_end
    from generate_series(
        (select first_cohort_month from data_date)::timestamp,
        (select last_month_end from data_date)::timestamp,
        interval 1 month
    ) as g(m)
),
perf_points as (
    select e.loan_id, me.month_end as as_of_date
    from perf_events e
    join month_ends me
      on me.month_end >= last_day(e.disbursed_date)
     and me.month_end <= last_day(coalesce(least(e.paid_off_date, e.charge_off_date), date '9999-12-01'))
),
perf_state as ({{ marts_state_select('perf_points') }}),
rows_ as (
    select
        st.loan_id,
        st.as_of_date as month_end,
        datediff('month', l.cohort_month, st.as_of_date)::integer as mob,
        l.cohort_month, l.product, coalesce(l.channel, 'unknown') as channel, l.declared_purpose,
        l.principal,
        st.dpd,
        {{ marts_status_columns('st') }},
        st.outstanding_principal,
        st.overdue_amount,
        st.cum_paid,
        st.recovered_after_charge_off,
        (e.first_dpd30_date <= st.as_of_date) is true as ever_dpd30,
        (e.first_dpd90_date <= st.as_of_date) is true as ever_dpd90
    from perf_state st
    join perf_events e on e.loan_id = st.loan_id
    join {{ ref('stg_drawdowns') }} l on l.loan_id = st.loan_id
)
select
    *,
    {{ marts_bucket_order('bucket') }} as bucket_order,
    lead(bucket) over w as next_bucket,
    lead(outstanding_principal) over w as next_outstanding_principal
from rows_
window w as (partition by loan_id order by month_end)
