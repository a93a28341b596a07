select
    order_id, customer_id, ordered_at,
    cast(ordered_at as date) as ordered_date,
    extract(hour from ordered_at)::integer as order_hour,
    isodow(ordered_at) >= 6 as is_weekend,
    amount as order_amount, category, merchant_id, channel, payment_method, device_id,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'orders'), ['order_id']) }}
