select
    flow_id, loan_id, customer_id, flow_at,
    cast(flow_at as date) as flow_date,
    amount as flow_amount, mcc, counterparty_id,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'fund_flows'), ['flow_id']) }}
