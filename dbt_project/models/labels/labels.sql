-- Risk labels on the feature-mart observation spine (DESIGN §5), one row per observation.
-- A label is null when it does not apply to the observation or its outcome window is not complete
-- at the marts' data date (last complete month-end), so training never sees a half-observed outcome.
--   a_card: the application's first loan reaches 30+ DPD within 6 MOB (loan has 6 MOB observed)
--   fraud : that loan's first installment is unpaid 30 days after its due date (FPD30)
--   b_card: a month-end observation with the customer current (DPD 0) -> any loan 30+ DPD at one of
--           the next 6 month-ends
--   c_card: a month-end observation with the customer in M1 (DPD 1-30) -> M2+ (DPD >= 31) at the next month-end
with as_of as (
    select last_month_end from {{ ref('marts_as_of') }}
),
first_loan as (
    select c.application_id, d.loan_id, d.cohort_month,
           row_number() over (partition by c.application_id order by d.drawdown_at, d.loan_id) as loan_rank
    from {{ ref('stg_credit_lines') }} c
    join {{ ref('stg_drawdowns') }} d on d.line_id = c.line_id
),
application_outcome as (
    select f.application_id, f.loan_id as first_loan_id,
           case when date_diff('month', f.cohort_month, any_value(a.last_month_end)) >= 6
                then coalesce(bool_or(m.ever_dpd30 and m.mob <= 6), false) end as bad_a_card,
           any_value(p.fpd30) as bad_fraud
    from first_loan f
    cross join as_of a
    left join {{ ref('loan_month_end') }} m on m.loan_id = f.loan_id
    left join {{ ref('loan_performance') }} p on p.loan_id = f.loan_id
    where f.loan_rank = 1
    group by f.application_id, f.loan_id, f.cohort_month
),
customer_month_end as (  -- worst loan of the customer at each month-end
    select p.customer_id, m.month_end, max(m.dpd) as max_dpd
    from {{ ref('loan_month_end') }} m
    join {{ ref('loan_performance') }} p using (loan_id)
    group by p.customer_id, m.month_end
),
month_end_outcome as (
    select s.obs_id,
           case when s.is_bcard and s.obs_date + interval 6 month <= a.last_month_end
                then coalesce(max(c.max_dpd) filter (where c.month_end > s.obs_date
                                                      and c.month_end <= last_day(s.obs_date + interval 6 month)), 0) >= 30
           end as bad_b_card,
           case when s.is_ccard and s.dpd_at_obs between 1 and 30 and last_day(s.obs_date + interval 1 month) <= a.last_month_end
                then coalesce(max(c.max_dpd) filter (where c.month_end = last_day(s.obs_date + interval 1 month)), 0) >= 31
           end as bad_c_card
    from {{ ref('feat_spine') }} s
    cross join as_of a
    left join customer_month_end c on c.customer_id = s.customer_id
        and c.month_end > s.obs_date and c.month_end <= last_day(s.obs_date + interval 6 month)
    where s.is_month_end
    group by s.obs_id, s.is_bcard, s.is_ccard, s.dpd_at_obs, s.obs_date, a.last_month_end
)
select
    s.obs_id, s.customer_id, s.obs_at, s.obs_month, s.application_id,
    ao.first_loan_id,
    ao.bad_a_card, ao.bad_fraud, mo.bad_b_card, mo.bad_c_card
from {{ ref('feat_spine') }} s
left join application_outcome ao on ao.application_id = s.application_id
left join month_end_outcome mo on mo.obs_id = s.obs_id
