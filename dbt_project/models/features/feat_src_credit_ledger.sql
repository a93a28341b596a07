-- Credit-line ledger: every event that moves a customer's limit, outstanding principal or freeze state, with
-- signed deltas, so "as of T" states are plain sums over the events before T:
--   current limit = sum(limit_delta), outstanding principal = sum(principal_delta), frozen = sum(frozen_delta).
-- Principal leaves the ledger when an installment is paid off (feat_src_installments.paid_off_at).
{{ config(materialized='table', schema='features_work') }}

with lines as (
    select line_id, customer_id, opened_at, initial_limit from {{ ref('stg_credit_lines') }}
),
limit_events as (
    select
        l.customer_id, e.event_at, e.event_type as kind,
        coalesce(e.new_limit - coalesce(
            lag(e.new_limit) over (partition by e.line_id order by e.event_at, e.limit_event_id),
            l.initial_limit), 0) as limit_delta
    from {{ ref('stg_limit_events') }} e
    join lines l using (line_id)
)
select customer_id, opened_at as event_at, 'line_open' as kind,
       initial_limit as limit_delta, 0.0 as principal_delta, 0 as frozen_delta, initial_limit as abs_amount
from lines
union all
select customer_id, event_at, kind, limit_delta, 0.0,
       case kind when 'freeze' then 1 when 'unfreeze' then -1 else 0 end, abs(limit_delta)
from limit_events
union all
select customer_id, drawdown_at, 'drawdown', 0.0, principal, 0, principal
from {{ ref('stg_drawdowns') }}
union all
select customer_id, paid_off_at, 'installment_paid', 0.0, -principal_due, 0, amount_due
from {{ ref('feat_src_installments') }}
where paid_off_at is not null
