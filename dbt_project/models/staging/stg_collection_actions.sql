select
    action_id, loan_id, action_at,
    cast(action_at as date) as action_date,
    action_type, result,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'collection_actions'), ['action_id']) }}
