-- Feature-mart spine: one row per (customer, observation time T).
--   * every application time (A-card, fraud): T = applied_at;
--   * every month-end at which the customer has an outstanding installment (B-card when DPD = 0 at the
--     month-end, C-card when DPD >= 1): T = the first instant of the next month, so the whole month-end day
--     is before T. Month-ends run up to the last day with internal data.
-- DPD at a month-end d = days since the oldest installment due on or before d that was not paid off before T.
{{ config(materialized='feature_parquet') }}

with horizon as (
    select cast(greatest(
        coalesce((select max(drawdown_at) from {{ ref('stg_drawdowns') }}), timestamp '1970-01-01'),
        coalesce((select max(paid_at) from {{ ref('stg_repayments') }}), timestamp '1970-01-01'),
        coalesce((select max(applied_at) from {{ ref('stg_applications') }}), timestamp '1970-01-01')
    ) as date) + 1 as end_date
),
outstanding as (  -- (installment, T) for every month start T at which the installment is unpaid
    select i.customer_id, i.due_date,
           unnest(generate_series(
               date_trunc('month', i.drawdown_at) + interval 1 month,
               date_trunc('month', least(coalesce(i.paid_off_at, h.end_date::timestamp), h.end_date::timestamp)),
               interval 1 month)) as obs_at
    from {{ ref('feat_src_installments') }} i, horizon h
),
month_ends as (
    select customer_id, obs_at,
           max(case when due_date < cast(obs_at as date)
                    then date_diff('day', due_date, cast(obs_at as date) - 1) else 0 end) as dpd
    from outstanding
    group by customer_id, obs_at
),
obs as (
    select customer_id, applied_at as obs_at, application_id, true as is_application, null::integer as dpd
    from {{ ref('stg_applications') }}
    union all
    select customer_id, obs_at, null, false, dpd
    from month_ends
)
select
    (hash(customer_id, obs_at) >> 1)::bigint as obs_id,
    customer_id,
    obs_at,
    cast(obs_at - interval 1 microsecond as date) as obs_date,
    date_trunc('month', cast(obs_at - interval 1 microsecond as date)) as obs_month,
    bool_or(is_application) as is_application,
    min(application_id) as application_id,
    count(application_id)::integer as n_applications,
    bool_or(not is_application) as is_month_end,
    coalesce(bool_or(not is_application and dpd = 0), false) as is_bcard,
    coalesce(bool_or(not is_application and dpd > 0), false) as is_ccard,
    max(dpd)::integer as dpd_at_obs
from obs
group by customer_id, obs_at
order by customer_id, obs_at
