{# Views over the lake's Parquet folders for every bronze source: bronze.<table> and quarantine.<table>,
   plus the ingest log. Run at the start of every dbt invocation, so a new batch file is visible at once. #}
{% macro create_lake_views() %}
  {% if execute %}
    {#- folders from LakeLayout.dbt_env(): the layout is named in lake/layout.py only -#}
    {% set bronze = env_var('LAKE_BRONZE_DIR') %}
    {% set quarantine = env_var('LAKE_QUARANTINE_DIR') %}
    {% set ingest_log = env_var('LAKE_INGEST_LOG_DIR') %}
    create schema if not exists bronze;
    create schema if not exists quarantine;
    create schema if not exists ops;
    {% for node in graph.sources.values() if node.source_name == 'bronze' %}
      create or replace view bronze.{{ node.name }} as
        select * from read_parquet('{{ bronze }}/{{ node.name }}/*.parquet', union_by_name = true);
      create or replace view quarantine.{{ node.name }} as
        select * from read_parquet('{{ quarantine }}/{{ node.name }}/*.parquet', union_by_name = true);
    {% endfor %}
    create or replace view ops.ingest_log as
      select * from read_parquet('{{ ingest_log }}/*/*.parquet', union_by_name = true, filename = true);
  {% endif %}
{% endmacro %}
