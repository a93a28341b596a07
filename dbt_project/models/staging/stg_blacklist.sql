select
    blacklist_id, national_id_token, phone_token, listed_at, source as list_source, reason,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'blacklist'), ['blacklist_id']) }}
