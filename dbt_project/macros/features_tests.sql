{# Generic test for feature tables: exactly the spine's rows, once each (joinable into one training frame). #}
{% test features_rows_match_spine(model) %}
with m as (select obs_id from {{ model }}),
     s as (select obs_id from {{ ref('feat_spine') }})
select 'missing' as problem, count(*) as n from (select obs_id from s except select obs_id from m) having count(*) > 0
union all
select 'extra', count(*) from (select obs_id from m except select obs_id from s) having count(*) > 0
union all
select 'duplicate', count(*) - count(distinct obs_id) from m having count(*) <> count(distinct obs_id)
{% endtest %}
