-- One row per fund flow (payment-network transaction of loan proceeds), classified by merchant category:
-- spend_category and prohibited group from the mcc_categories seed (unknown MCCs -> 'other'), whether it
-- falls in the monitoring window (fund_usage_window_days after the drawdown) and whether the category is
-- consistent with the loan's declared purpose (purpose_spend_categories seed).
{{ config(materialized='external') }}
-- depends_on: {{ ref('marts_as_of') }}
select
    f.flow_id,
    f.loan_id,
    d.cohort_month, d.product, coalesce(d.channel, 'unknown') as channel, d.declared_purpose,
    d.principal,
    f.flow_at,
    f.flow_date,
    round(epoch(f.flow_at - d.drawdown_at) / 86400.0, 3) as days_after_drawdown,
    f.flow_at >= d.drawdown_at
        and f.flow_at < d.drawdown_at + to_days({{ marts_fund_usage_param('window_days') }}) as in_window,
    f.flow_amount,
    f.mcc,
    coalesce(m.mcc_description, 'unmapped MCC') as mcc_description,
    coalesce(m.spend_category, 'other') as spend_category,
    coalesce(m.is_prohibited, false) as is_prohibited,
    m.prohibited_group,
    ps.spend_category is not null as matches_purpose,
    f.counterparty_id
from {{ ref('stg_fund_flows') }} f
join {{ ref('stg_drawdowns') }} d on d.loan_id = f.loan_id
left join {{ ref('mcc_categories') }} m on m.mcc = f.mcc
left join {{ ref('purpose_spend_categories') }} ps
       on ps.declared_purpose = d.declared_purpose and ps.spend_category = m.spend_category
