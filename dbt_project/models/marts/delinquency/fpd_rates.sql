-- First-payment default by cohort: one row per cohort x product x channel x declared purpose.
-- FPD_N = the first installment is still unpaid at the end of its due date + N days; a loan counts in
-- the FPD_N denominator once that date is observed (<= marts_as_of.as_of_date).
{{ config(materialized='external') }}
select
    cohort_month, product, channel, declared_purpose,
    count(*) as loans,
    sum(principal) as principal,
    count(fpd7) as fpd7_observed_loans,
    count(*) filter (where fpd7) as fpd7_loans,
    coalesce(sum(principal) filter (where fpd7 is not null), 0) as fpd7_observed_principal,
    coalesce(sum(principal) filter (where fpd7), 0) as fpd7_principal,
    count(fpd30) as fpd30_observed_loans,
    count(*) filter (where fpd30) as fpd30_loans,
    coalesce(sum(principal) filter (where fpd30 is not null), 0) as fpd30_observed_principal,
    coalesce(sum(principal) filter (where fpd30), 0) as fpd30_principal,
    fpd7_loans / nullif(fpd7_observed_loans, 0) as fpd7_rate,
    fpd30_loans / nullif(fpd30_observed_loans, 0) as fpd30_rate
from {{ ref('loan_performance') }}
group by all
