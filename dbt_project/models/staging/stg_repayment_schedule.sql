select
    loan_id, installment_no, due_date, principal_due, interest_due,
    principal_due + interest_due as amount_due,
    _source_file, _ingested_at
from {{ latest_by_key(source('bronze', 'repayment_schedule'), ['loan_id', 'installment_no']) }}
