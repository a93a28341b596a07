select
    check_id, customer_id, phone_token, checked_at, carrier, tenure_months, name_match, status as line_status,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'telco'), ['check_id']) }}
