{#
  feature_parquet: write a model's result straight to one Parquet file in the lake's feature folder and expose it
  as a view (features.<model>), without the intermediate table dbt-duckdb's `external` materialization writes
  into the .duckdb file first (for a table of 1,500 columns that doubles the build time).

  * SQL models:    COPY (<compiled sql>) TO '<location>.tmp' (FORMAT parquet), then an atomic rename.
  * Python models: the model returns a pyarrow Table, an iterable of Tables (one per customer shard; written as
                   row groups of one file with pyarrow, which writes wide tables ~2-3x faster than COPY), or a
                   DuckDB relation.
  Both run through the adapter's Python job runner so the folder can be created first (COPY does not create it).
  Config: location (default $LAKE_FEATURES_DIR/<name>.parquet, LakeLayout.feature_table), compression (default zstd).
#}
{% materialization feature_parquet, adapter='duckdb', supported_languages=['sql', 'python'] %}
  {%- set location = config.get('location') or (env_var('LAKE_FEATURES_DIR') ~ '/' ~ this.identifier ~ '.parquet') -%}
  {%- set compression = config.get('compression') or 'zstd' -%}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set existing_relation = load_cached_relation(this) -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {#- The job imports the repository's `features` package: find the repository from the dbt project dir
      (or the working directory) upwards, in case the package is not installed into the environment. -#}
  {%- set prelude -%}
import os as _os
import sys as _sys


def _features_repo_root():
    starts = [{{ tojson(invocation_args_dict.get('project_dir') or '') }}, _os.environ.get("FEATURES_REPO_ROOT", ""), _os.getcwd()]
    for start in starts:
        here = _os.path.abspath(start) if start else ""
        while here and here != _os.path.dirname(here):
            if _os.path.exists(_os.path.join(here, "features", "catalog.yaml")):
                return here
            here = _os.path.dirname(here)
    return None


_root = _features_repo_root()
if _root and _root not in _sys.path:
    _sys.path.insert(0, _root)
  {%- endset -%}

  {%- if model['language'] == 'python' -%}
    {%- set job -%}
{{ prelude }}
{{ compiled_code }}


def materialize(df, con):
    from features.materialize import write_model_output
    from lake import storage
    write_model_output(df, con, {{ tojson(location) }}, {{ tojson(compression) }})
    # one file or a folder of shard parts (DuckDB reads a folder by itself only on a local disk: a glob on S3)
    source = storage.parquet_source(storage.lake_path({{ tojson(location) }}))
    con.execute({{ tojson("create or replace view " ~ target_relation ~ " as select * from read_parquet(") }}
                + storage.sql_string(source) + ")")
    {%- endset -%}
  {%- else -%}
    {%- set job -%}
{{ prelude }}


class dbtObj:
    def __init__(self, load_df_function):
        pass


def model(dbt, con):
    return None


def materialize(df, con):
    from features.materialize import write_sql
    write_sql(con, {{ tojson(compiled_code) }}, {{ tojson(location) }}, {{ tojson(compression) }})
    {%- endset -%}
  {%- endif -%}

  {% call statement('main', language='python') -%}
    {{ job }}
  {%- endcall %}

  {% if existing_relation is not none and existing_relation.type != 'view' %}
    {{ drop_relation_if_exists(existing_relation) }}
  {% endif %}
  {% if model['language'] != 'python' %}{#- a Python model's job creates its view (one file or a folder) -#}
  {% call statement('create_view') -%}
    create or replace view {{ target_relation }} as select * from read_parquet('{{ location }}')
  {%- endcall %}
  {% endif %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
