select
    application_id, customer_id, applied_at,
    cast(applied_at as date) as applied_date,
    product, channel, requested_limit, decision, decision_reason,
    coalesce(approved_limit, 0) as approved_limit,
    device_id, ip,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'applications'), ['application_id']) }}
