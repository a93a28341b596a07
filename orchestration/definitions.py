"""The Dagster code location: `defs` is what workspace.yaml and `dagster dev` load."""
from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.automation import daily_analytics_job, daily_analytics_schedule, ingest_job, landing_sensor
from orchestration.config import LakeConfig
from orchestration.dbt_assets import DBT_DIR, DBT_EXECUTABLE, dbt_models
from orchestration.ingest_assets import bronze_assets, landing_specs
from orchestration.quality_checks import bronze_checks
from orchestration.resources import LakeResource

everything_job = dg.define_asset_job(
    "materialize_everything",
    selection=dg.AssetSelection.all(),
    description="Every materialisable asset, landing to the last layer (what `make demo` runs).",
    executor_def=dg.in_process_executor,  # one process on small machines: no per-step interpreter start-up
)

defs = dg.Definitions(
    assets=[*landing_specs, *bronze_assets, dbt_models],
    asset_checks=bronze_checks,
    jobs=[everything_job, ingest_job, daily_analytics_job],
    schedules=[daily_analytics_schedule],
    sensors=[landing_sensor],
    resources={
        "lake": LakeResource(root=str(LakeConfig.from_env().root)),
        "dbt": DbtCliResource(project_dir=str(DBT_DIR), profiles_dir=str(DBT_DIR), dbt_executable=DBT_EXECUTABLE),
    },
)
