select
    event_id, customer_id, event_at,
    cast(event_at as date) as event_date,
    event_type, device_id, ip, geo_lat, geo_lon, wifi_mac,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'app_events'), ['event_id']) }}
