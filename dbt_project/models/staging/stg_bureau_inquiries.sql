with unnested as (
    select
        r.report_id, r.customer_id, r.reported_at,
        unnest(from_json(r.inquiries, '[{"inquired_at":"TIMESTAMP","institution_type":"VARCHAR","institution_id":"VARCHAR","reason":"VARCHAR"}]')) as i
    from {{ ref('stg_credit_reports') }} r
)
select
    report_id, customer_id, reported_at,
    i.inquired_at, i.institution_type, i.institution_id, i.reason as inquiry_reason
from unnested
