-- App events with the point-in-time change flags the device family aggregates: each flag compares an event
-- with the customer's previous event only (lag), so it never looks ahead.
{{ config(materialized='table', schema='features_work') }}

with e as (
    select
        event_id, customer_id, event_at, event_type, device_id, ip, wifi_mac, geo_lat, geo_lon,
        lag(device_id) over w as prev_device,
        lag(ip) over w as prev_ip,
        lag(wifi_mac) over w as prev_wifi,
        lag(geo_lat) over w as prev_lat,
        lag(geo_lon) over w as prev_lon,
        case when device_id is not null then
            row_number() over (partition by customer_id, device_id order by event_at, event_id) end as device_use_no
    from {{ ref('stg_app_events') }}
    window w as (partition by customer_id order by event_at, event_id)
)
select
    event_id, customer_id, event_at, event_type, device_id, ip, wifi_mac,
    extract(hour from event_at)::integer as event_hour,
    isodow(event_at) >= 6 as is_weekend,
    nullif(regexp_extract(ip, '^(\d+\.\d+\.\d+)\.', 1), '') as ip_prefix,
    case when geo_lat is not null and geo_lon is not null
         then round(geo_lat, 1)::varchar || ',' || round(geo_lon, 1)::varchar end as geo_cell,
    case when device_use_no = 1 then 1 else 0 end as new_device,
    case when prev_device is not null and device_id is not null and device_id <> prev_device then 1 else 0 end as device_changed,
    case when prev_ip is not null and ip is not null and ip <> prev_ip then 1 else 0 end as ip_changed,
    case when prev_wifi is not null and wifi_mac is not null and wifi_mac <> prev_wifi then 1 else 0 end as wifi_changed,
    case when prev_lat is not null and geo_lat is not null then
        2 * 6371 * asin(least(1, sqrt(
            pow(sin(radians(geo_lat - prev_lat) / 2), 2)
            + cos(radians(prev_lat)) * cos(radians(geo_lat)) * pow(sin(radians(geo_lon - prev_lon) / 2), 2))))
    end as geo_jump_km
from e
