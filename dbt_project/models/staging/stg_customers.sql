-- One row per customer; PII only as tokens. Age is derived downstream at the observation time.
select
    customer_id,
    name_token, national_id_token, phone_token, bank_card_token,
    gender, birth_date, city, city_tier, education, occupation,
    monthly_income as declared_monthly_income,
    channel as acquisition_channel,
    registered_at,
    cast(registered_at as date) as registered_date,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'customers'), ['customer_id']) }}
