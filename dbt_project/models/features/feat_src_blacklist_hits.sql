-- Blacklist / court-enforcement listings matched to customers by national id or phone (tokens).
{{ config(materialized='table', schema='features_work') }}

select c.customer_id, b.blacklist_id, b.listed_at, b.list_source, 'national_id' as matched_on
from {{ ref('stg_blacklist') }} b
join {{ ref('stg_customers') }} c on b.national_id_token = c.national_id_token
union all
select c.customer_id, b.blacklist_id, b.listed_at, b.list_source, 'phone' as matched_on
from {{ ref('stg_blacklist') }} b
join {{ ref('stg_customers') }} c on b.phone_token = c.phone_token
