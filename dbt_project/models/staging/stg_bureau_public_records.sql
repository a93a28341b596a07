with unnested as (
    select
        r.report_id, r.customer_id, r.reported_at,
        unnest(from_json(r.public_records, '[{"record_type":"VARCHAR","filed_on":"DATE","amount":"DOUBLE"}]')) as p
    from {{ ref('stg_credit_reports') }} r
)
select
    report_id, customer_id, reported_at,
    p.record_type, p.filed_on, p.amount
from unnested
