"""The Dagster code location: `defs` is what workspace.yaml and `dagster dev` load."""
from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.automation import daily_analytics_job, daily_analytics_schedule, ingest_job, landing_sensor
from orchestration.config import LakeConfig
from orchestration.dbt_assets import DBT_DIR, DBT_EXECUTABLE, dbt_models
from orchestration.export_assets import export_assets, export_jobs, export_resources, export_schedules
from orchestration.ingest_assets import bronze_assets, landing_specs
from orchestration.quality_checks import bronze_checks
from orchestration.resources import LakeResource

# Partitioned assets (scores by business date, partner exports) run per business date in their own jobs.
unpartitioned = dg.AssetSelection.all() - dg.AssetSelection.groups("exports", "scores")

everything_job = dg.define_asset_job(
    "materialize_everything",
    selection=unpartitioned,
    description="Every materialisable asset, landing to the last layer (what `make demo` runs).",
    executor_def=dg.in_process_executor,  # one process on small machines: no per-step interpreter start-up
)

defs = dg.Definitions(
    assets=[*landing_specs, *bronze_assets, dbt_models, *export_assets],
    asset_checks=bronze_checks,
    jobs=[everything_job, ingest_job, daily_analytics_job, *export_jobs],
    schedules=[daily_analytics_schedule, *export_schedules],
    sensors=[landing_sensor],
    resources={
        "lake": LakeResource(root=str(LakeConfig.from_env().root)),
        "dbt": DbtCliResource(project_dir=str(DBT_DIR), profiles_dir=str(DBT_DIR), dbt_executable=DBT_EXECUTABLE),
        **export_resources,
    },
)
