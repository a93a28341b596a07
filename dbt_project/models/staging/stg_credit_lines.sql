select
    line_id, customer_id, application_id, product, opened_at,
    cast(opened_at as date) as opened_date,
    initial_limit,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'credit_lines'), ['line_id']) }}
