select
    limit_event_id, line_id, event_at,
    cast(event_at as date) as event_date,
    event_type, old_limit, new_limit,
    new_limit - old_limit as limit_change,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'limit_events'), ['limit_event_id']) }}
