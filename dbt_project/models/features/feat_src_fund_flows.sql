-- Fund flows of loan proceeds with the merchant-category group, the prohibited flag (securities, gambling,
-- real estate, quasi-cash / crypto must not receive loan proceeds) and whether the merchant category matches
-- the purpose the borrower declared for the loan.
{{ config(materialized='table', schema='features_work') }}

select
    f.flow_id, f.customer_id, f.loan_id, f.flow_at, f.flow_amount, f.mcc, f.counterparty_id,
    case
        when f.mcc in ('5411', '5311', '5812', '5999') then 'daily_retail'
        when f.mcc in ('5211', '5200', '5712') then 'home'
        when f.mcc in ('4722', '4511', '7011') then 'travel'
        when f.mcc in ('8220', '8299') then 'education'
        when f.mcc in ('8062', '5912', '8011') then 'medical'
        when f.mcc in ('5732', '5045', '5722') then 'digital'
        when f.mcc in ('4900', '7299') then 'bills_services'
        when f.mcc in ('5944', '7230', '5621') then 'wedding_fashion'
        when f.mcc = '6211' then 'securities'
        when f.mcc = '7995' then 'gambling'
        when f.mcc = '6513' then 'real_estate'
        when f.mcc = '6051' then 'quasi_cash'
    end as use_group,
    case when f.mcc in ('6211', '7995', '6513', '6051') then 'prohibited' else 'allowed' end as risk_class,
    (epoch(f.flow_at) - epoch(d.drawdown_at)) / 3600.0 as hours_after_drawdown,
    coalesce(case d.declared_purpose
        when 'daily_consumption' then f.mcc in ('5411', '5311', '5812', '5999')
        when 'renovation' then f.mcc in ('5211', '5200')
        when 'travel' then f.mcc in ('4722', '4511', '7011')
        when 'education' then f.mcc in ('8220', '8299')
        when 'medical' then f.mcc in ('8062', '5912', '8011')
        when 'digital' then f.mcc in ('5732', '5045')
        when 'appliances' then f.mcc in ('5722', '5732')
        when 'rent' then f.mcc in ('4900', '7299')
        when 'furniture' then f.mcc in ('5712', '5200')
        when 'wedding' then f.mcc in ('5944', '7230', '5621')
    end, false) as purpose_match
from {{ ref('stg_fund_flows') }} f
left join {{ ref('stg_drawdowns') }} d using (loan_id)
