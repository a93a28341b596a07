-- One row per drawdown: where the proceeds went within the monitoring window, the share that went to
-- prohibited categories (securities / investment, gambling, real estate), the match between declared
-- purpose and actual spend, and flags with their reasons (thresholds: macros/marts_fund_usage.sql).
-- is_flagged (the review queue) = prohibited spend or cash-out (a purpose mismatch alone only with the var
-- fund_usage_flag_mismatch); flag_reasons lists every indicator raised, mismatch included.
-- Shares of principal are capped at 1 (the borrower may also spend own money through the same account).
{{ config(materialized='external') }}
-- amounts are summed as exact decimals (then read back as double): a floating-point sum depends on the order
-- DuckDB's threads add rows up, and the mart must be the same on every run
with w as (
    select *, flow_amount::decimal(18, 2) as amount_exact from {{ ref('fund_usage_flows') }} where in_window
),
per_loan as (
    select
        loan_id,
        count(*) as flows,
        sum(amount_exact)::double as traced_amount,
        coalesce((sum(amount_exact) filter (where is_prohibited))::double, 0) as prohibited_amount,
        coalesce((sum(amount_exact) filter (where prohibited_group = 'securities_investment'))::double, 0) as securities_amount,
        coalesce((sum(amount_exact) filter (where prohibited_group = 'gambling'))::double, 0) as gambling_amount,
        coalesce((sum(amount_exact) filter (where prohibited_group = 'real_estate'))::double, 0) as real_estate_amount,
        coalesce((sum(amount_exact) filter (where spend_category = 'cash_transfer'))::double, 0) as cash_transfer_amount,
        coalesce((sum(amount_exact) filter (where matches_purpose))::double, 0) as purpose_matched_amount,
        min(days_after_drawdown) as first_flow_days
    from w
    group by loan_id
),
top_cat as (
    -- ties in amount are broken by category name, so the mart is the same on every run
    select loan_id, arg_max(spend_category, (amount, spend_category)) as top_category, max(amount) as top_category_amount
    from (select loan_id, spend_category, sum(amount_exact)::double as amount from w group by all)
    group by loan_id
),
base as (
    select
        l.loan_id, l.customer_id, l.cohort_month, l.product, l.channel, l.declared_purpose,
        l.disbursed_date, l.principal, l.status, l.ever_dpd30, l.mob6_observed, l.ever_dpd30_mob6,
        coalesce(p.flows, 0) as flows,
        coalesce(p.traced_amount, 0) as traced_amount,
        coalesce(p.prohibited_amount, 0) as prohibited_amount,
        coalesce(p.securities_amount, 0) as securities_amount,
        coalesce(p.gambling_amount, 0) as gambling_amount,
        coalesce(p.real_estate_amount, 0) as real_estate_amount,
        coalesce(p.cash_transfer_amount, 0) as cash_transfer_amount,
        coalesce(p.purpose_matched_amount, 0) as purpose_matched_amount,
        p.first_flow_days,
        t.top_category,
        t.top_category_amount / nullif(p.traced_amount, 0) as top_category_share
    from {{ ref('loan_performance') }} l
    left join per_loan p on p.loan_id = l.loan_id
    left join top_cat t on t.loan_id = l.loan_id
),
shares as (
    select
        *,
        least(traced_amount / principal, 1) as traced_share,
        least(prohibited_amount / principal, 1) as prohibited_share,
        prohibited_amount / nullif(traced_amount, 0) as prohibited_share_of_traced,
        least(cash_transfer_amount / principal, 1) as cash_transfer_share,
        purpose_matched_amount / nullif(traced_amount, 0) as purpose_match_share
    from base
),
flags as (
    select
        *,
        prohibited_share >= {{ marts_fund_usage_param('prohibited_min_share') }} as flag_prohibited,
        cash_transfer_share >= {{ marts_fund_usage_param('cash_out_min_share') }} as flag_cash_out,
        coalesce(traced_share >= {{ marts_fund_usage_param('mismatch_min_traced') }}
                 and purpose_match_share < {{ marts_fund_usage_param('mismatch_max_share') }}, false) as purpose_mismatch
    from shares
)
select
    *,
    flag_prohibited or flag_cash_out or (purpose_mismatch and {{ marts_fund_usage_param('flag_mismatch') }}) as is_flagged,
    nullif(concat_ws('; ',
        case when flag_prohibited then 'prohibited spend ' || round(100 * prohibited_share)::integer || '% of principal ('
            || concat_ws(', ',
                   case when securities_amount > 0 then 'securities/investment' end,
                   case when gambling_amount > 0 then 'gambling' end,
                   case when real_estate_amount > 0 then 'real estate' end) || ')' end,
        case when flag_cash_out then 'cash-out / transfers ' || round(100 * cash_transfer_share)::integer || '% of principal' end,
        case when purpose_mismatch then 'declared ' || declared_purpose || ' but ' || round(100 * purpose_match_share)::integer
            || '% of traced spend matches it (top: ' || top_category || ')' end
    ), '') as flag_reasons
from flags
