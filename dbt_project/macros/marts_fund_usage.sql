{#
  Fund-usage monitoring parameters. Override any of them with dbt vars, e.g.
  dbt build --vars '{fund_usage_window_days: 15}'.
    window_days          flows counted if they happen within this many days after the drawdown
    prohibited_min_share flag when prohibited spend >= this share of the principal
    cash_out_min_share   flag when cash / quasi-cash / transfers >= this share of the principal
    mismatch_max_share   purpose mismatch when the spend consistent with the declared purpose is below this
                         share of the traced spend ...
    mismatch_min_traced  ... and at least this share of the principal was traced
    flag_mismatch        whether a purpose mismatch alone puts the loan in the review queue (is_flagged).
                         Off by default: on the simulated world a mismatch alone barely separates risk
                         (6-MOB bad rate 5.1% vs 4.6%) while prohibited spend does (8-10%), and it would
                         triple the queue. Mismatches are still reported (purpose_mismatch, flag_reasons).
#}
{% macro marts_fund_usage_param(name) -%}
    {%- set defaults = {
        'window_days': 30,
        'prohibited_min_share': 0.10,
        'cash_out_min_share': 0.50,
        'mismatch_max_share': 0.20,
        'mismatch_min_traced': 0.50,
        'flag_mismatch': false,
    } -%}
    {{ var('fund_usage_' ~ name, defaults[name]) }}
{%- endmacro %}
