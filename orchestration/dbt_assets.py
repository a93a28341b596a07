"""dbt models as Dagster assets: bronze sources -> staging -> marts, grouped by layer (folder)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import dagster as dg
from filelock import FileLock
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from lake.layout import REPO_ROOT, LakeLayout
from orchestration.dask_resource import DaskResource
from orchestration.resources import LakeResource

DBT_DIR = REPO_ROOT / "dbt_project"
os.environ.setdefault("DO_NOT_TRACK", "1")  # dbt must never wait on its usage-stats endpoint offline
# A partial run (a subset of models) runs only the tests whose every parent it builds.
os.environ.setdefault("DBT_INDIRECT_SELECTION", "cautious")

# The dbt installed beside this interpreter (the venv), whether or not the venv is activated.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt") if (Path(sys.executable).parent / "dbt").exists() else (shutil.which("dbt") or "dbt")

dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


def load_manifest() -> dict:
    """The dbt manifest, parsed first when missing or older than a model, macro or config file.
    A file lock serialises check, parse and read, so processes importing this at once (pytest-xdist
    workers, Dagster step processes) never read a manifest another one is still writing."""
    manifest = dbt_project.manifest_path
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(manifest.parent / ".manifest.lock")):
        sources = [p for pattern in ("models/**/*", "macros/**/*", "seeds/**/*", "tests/**/*", "*.yml")
                   for p in DBT_DIR.glob(pattern) if p.is_file()]
        if not (manifest.exists() and all(p.stat().st_mtime <= manifest.stat().st_mtime for p in sources)):
            env = {**os.environ, "LAKE_ROOT": os.environ.get("LAKE_ROOT", str(LakeLayout.from_env().root))}
            subprocess.run(
                [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)],
                check=True, env=env, cwd=DBT_DIR,
            )
        return json.loads(manifest.read_text())


class LayerTranslator(DagsterDbtTranslator):
    """Models keyed and grouped by their folder (= lake schema): staging/stg_orders, marts/..."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: "DbtProject | None") -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id)
        if props["resource_type"] in ("model", "seed", "snapshot"):
            layer = props["fqn"][1] if len(props["fqn"]) > 2 else "dbt"
            return spec.replace_attributes(key=dg.AssetKey([layer, props["name"]]), group_name=layer)
        return spec


@dbt_assets(manifest=load_manifest(), project=dbt_project, dagster_dbt_translator=LayerTranslator(),
            pool="lakehouse_duckdb_writer",
            retry_policy=dg.RetryPolicy(max_retries=1, delay=30, backoff=dg.Backoff.EXPONENTIAL))
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, lake: LakeResource, dask: DaskResource):
    # dbt reads the lake root from the environment (profile path, bronze views).
    cfg = lake.config()
    os.environ["LAKE_ROOT"] = str(cfg.root)
    context.log.info(dask.apply_to_environment())  # the feature models' shard tasks: in-process or on Dask
    # dbt's run artefacts live with the lake they describe, so two lakes never share a target folder.
    yield from dbt.cli(["build"], context=context, target_path=cfg.root / "_dbt" / "target").stream()
