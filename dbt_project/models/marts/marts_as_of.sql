-- The data date of the marts (one row). Everything "as of now" and every month-end grid stops here.
-- as_of_date: the var `as_of_date` (YYYY-MM-DD) if given, else the latest event day in the lending data.
-- last_month_end: the last complete month-end on or before as_of_date.
-- depends_on: {{ ref('marts_lake_dir') }}
{% set as_of = var('as_of_date', none) %}
with latest as (
    select max(d) as d from (
        select max(drawdown_at)::date as d from {{ ref('stg_drawdowns') }}
        union all select max(paid_at)::date from {{ ref('stg_repayments') }}
        union all select max(flow_at)::date from {{ ref('stg_fund_flows') }}
        union all select max(action_at)::date from {{ ref('stg_collection_actions') }}
    )
),
d as (
    select {% if as_of %}date '{{ as_of }}'{% else %}coalesce((select d from latest), current_date){% endif %} as as_of_date
)
select
    as_of_date,
    case when last_day(as_of_date) = as_of_date then as_of_date
         else (date_trunc('month', as_of_date) - interval 1 day)::date end as last_month_end,
    (select min(cohort_month) from {{ ref('stg_drawdowns') }}) as first_cohort_month
from d
