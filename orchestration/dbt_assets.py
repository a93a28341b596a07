"""dbt models as Dagster assets: bronze sources -> staging -> marts, grouped by layer (folder).

Importing this reads the prepared dbt manifest (``python -m orchestration.dbt_cli prepare``) and changes
nothing else: the lake's locations reach dbt through the environment of each dbt call only."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.dbt_cli import DBT_DIR, DBT_EXECUTABLE, dbt_env, read_manifest, scoped_env
from orchestration.resources import LakeResource

__all__ = ["DBT_DIR", "DBT_EXECUTABLE", "LayerTranslator", "dbt_models", "dbt_project"]

dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


class LayerTranslator(DagsterDbtTranslator):
    """Models keyed and grouped by their folder (= lake schema): staging/stg_orders, marts/..."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: "DbtProject | None") -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id)
        if props["resource_type"] in ("model", "seed", "snapshot"):
            layer = props["fqn"][1] if len(props["fqn"]) > 2 else "dbt"
            return spec.replace_attributes(key=dg.AssetKey([layer, props["name"]]), group_name=layer)
        return spec


@dbt_assets(manifest=read_manifest(), project=dbt_project, dagster_dbt_translator=LayerTranslator(),
            pool="lakehouse_duckdb_writer",
            retry_policy=dg.RetryPolicy(max_retries=1, delay=30, backoff=dg.Backoff.EXPONENTIAL))
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, lake: LakeResource):
    layout = lake.config()
    layout.local.mkdir(parents=True, exist_ok=True)
    # dbt reads the lake's locations from its environment; DbtCliResource starts dbt from os.environ, so set
    # them only while it starts the process. dbt's run artefacts live with the lake's catalog they describe.
    with scoped_env(dbt_env(layout)):
        invocation = dbt.cli(["build"], context=context, target_path=layout.dbt_target)
    yield from invocation.stream()
