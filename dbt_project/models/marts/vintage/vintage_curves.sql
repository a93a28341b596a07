-- Vintage curves: one row per origination cohort (month) x product x channel x declared purpose x MOB,
-- for every MOB whose month-end is observed (<= marts_as_of.last_month_end).
-- All loans of the cell stay in the denominator at every MOB (paid-off and written-off included).
-- Measures are additive (sum them over any filter, then divide):
--   ever30 / ever90: loans (and their disbursed principal) that reached DPD >= 30 / >= 90 on any day
--                    up to the MOB's month-end (not only at month-ends);
--   cur30_balance:   outstanding principal of active loans at DPD >= 30 at that month-end;
--   written_off_*:   loans / principal outstanding at charge-off, cumulative to that month-end.
{{ config(materialized='external') }}
with data_date as (select * from {{ ref('marts_as_of') }}),
loans as (select * from {{ ref('loan_performance') }}),
grid as (
    select l.loan_id, l.cohort_month, l.product, l.channel, l.declared_purpose, l.principal,
           l.first_dpd30_date, l.first_dpd90_date, l.charge_off_date, l.written_off_principal,
           g.mob::integer as mob,
           last_day(l.cohort_month + g.mob * interval 1 month) as mob_end_date
    from loans l
    cross join data_date a
    cross join lateral generate_series(0, datediff('month', l.cohort_month, a.last_month_end)) as g(mob)
),
joined as (
    select g.*, me.dpd, me.status, me.outstanding_principal
    from grid g
    left join {{ ref('loan_month_end') }} me on me.loan_id = g.loan_id and me.month_end = g.mob_end_date
)
select
    cohort_month, product, channel, declared_purpose, mob,
    any_value(mob_end_date) as mob_end_date,
    count(*) as loans,
    sum(principal) as principal,
    count(*) filter (where first_dpd30_date <= mob_end_date) as ever30_loans,
    coalesce(sum(principal) filter (where first_dpd30_date <= mob_end_date), 0) as ever30_principal,
    count(*) filter (where first_dpd90_date <= mob_end_date) as ever90_loans,
    coalesce(sum(principal) filter (where first_dpd90_date <= mob_end_date), 0) as ever90_principal,
    coalesce(sum(outstanding_principal) filter (where status = 'active'), 0) as active_balance,
    coalesce(sum(outstanding_principal) filter (where status = 'active' and dpd >= 30), 0) as cur30_balance,
    count(*) filter (where status = 'active' and dpd >= 30) as cur30_loans,
    count(*) filter (where charge_off_date <= mob_end_date) as written_off_loans,
    coalesce(sum(written_off_principal) filter (where charge_off_date <= mob_end_date), 0) as written_off_principal,
    -- rates of the cell (re-derive from the sums after aggregating cells)
    ever30_loans / count(*) as ever30_rate,
    ever30_principal / nullif(sum(principal), 0) as ever30_amount_rate,
    ever90_loans / count(*) as ever90_rate,
    ever90_principal / nullif(sum(principal), 0) as ever90_amount_rate,
    cur30_balance / nullif(sum(principal), 0) as cur30_balance_rate
from joined
group by cohort_month, product, channel, declared_purpose, mob
