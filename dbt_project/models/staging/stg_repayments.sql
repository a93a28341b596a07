select
    payment_id, loan_id, paid_at,
    cast(paid_at as date) as paid_date,
    amount as paid_amount, payment_channel,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'repayments'), ['payment_id']) }}
