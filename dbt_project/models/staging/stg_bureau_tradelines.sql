-- One row per tradeline per report; monthly_status is 24 chars, oldest first, last = report month.
with unnested as (
    select
        r.report_id, r.customer_id, r.reported_at,
        unnest(from_json(r.tradelines, '[{"tradeline_id":"VARCHAR","institution_type":"VARCHAR","product":"VARCHAR","opened_on":"DATE","credit_limit":"DOUBLE","balance":"DOUBLE","status":"VARCHAR","monthly_status":"VARCHAR"}]')) as t
    from {{ ref('stg_credit_reports') }} r
)
select
    report_id, customer_id, reported_at,
    t.tradeline_id, t.institution_type, t.product, t.opened_on, t.credit_limit, t.balance, t.status, t.monthly_status
from unnested
