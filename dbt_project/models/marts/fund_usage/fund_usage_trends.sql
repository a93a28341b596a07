-- Fund-usage trend by cohort: one row per cohort x product x channel x declared purpose with additive
-- amounts and flag counts, and the 6-MOB bad rate (ever DPD >= 30 by MOB 6) of flagged vs other loans.
{{ config(materialized='external') }}
select
    cohort_month, product, channel, declared_purpose,
    count(*) as loans,
    sum(principal) as principal,
    sum(traced_amount) as traced_amount,
    sum(prohibited_amount) as prohibited_amount,
    sum(securities_amount) as securities_amount,
    sum(gambling_amount) as gambling_amount,
    sum(real_estate_amount) as real_estate_amount,
    sum(cash_transfer_amount) as cash_transfer_amount,
    sum(purpose_matched_amount) as purpose_matched_amount,
    count(*) filter (where is_flagged) as flagged_loans,
    coalesce(sum(principal) filter (where is_flagged), 0) as flagged_principal,
    count(*) filter (where flag_prohibited) as prohibited_loans,
    count(*) filter (where flag_cash_out) as cash_out_loans,
    count(*) filter (where purpose_mismatch) as mismatch_loans,
    count(*) filter (where is_flagged and mob6_observed) as flagged_mob6_loans,
    count(*) filter (where is_flagged and ever_dpd30_mob6) as flagged_mob6_bad,
    count(*) filter (where not is_flagged and mob6_observed) as other_mob6_loans,
    count(*) filter (where not is_flagged and ever_dpd30_mob6) as other_mob6_bad,
    sum(prohibited_amount) / nullif(sum(traced_amount), 0) as prohibited_share_of_traced,
    flagged_loans / count(*) as flagged_rate
from {{ ref('fund_usage_loans') }}
group by cohort_month, product, channel, declared_purpose
