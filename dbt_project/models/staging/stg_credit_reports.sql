-- Report header; the nested arrays are flattened by the stg_bureau_* models.
select
    report_id, customer_id, national_id_token, name_token, reported_at,
    cast(tradelines as json) as tradelines,
    cast(inquiries as json) as inquiries,
    cast(public_records as json) as public_records,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'credit_reports'), ['report_id']) }}
