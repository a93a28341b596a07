-- One row per loan (a drawdown on a line).
select
    loan_id, line_id, customer_id, drawdown_at,
    cast(drawdown_at as date) as disbursed_date,
    date_trunc('month', drawdown_at)::date as cohort_month,
    amount as principal, term_months, annual_rate, declared_purpose, partner_id, product, channel,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'drawdowns'), ['loan_id']) }}
