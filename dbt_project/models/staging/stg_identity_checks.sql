select
    check_id, customer_id, checked_at, bureau_hit, name_match, id_match, phone_match, card_match,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'identity_checks'), ['check_id']) }}
