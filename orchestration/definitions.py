"""The Dagster code location: `defs` is what workspace.yaml and `dagster dev` load."""
from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.automation import daily_analytics_job, daily_analytics_schedule, ingest_job, landing_sensor
from lake.layout import LakeLayout
from orchestration.dbt_assets import DBT_DIR, DBT_EXECUTABLE, dbt_models
from orchestration.partitions import BUSINESS_DATE_PARTITIONS
from orchestration.export_assets import (export_assets, export_jobs, export_resources,
                                         export_schedules)
from orchestration.feature_assets import feature_assets, feature_checks
from orchestration.ingest_assets import bronze_assets, landing_specs
from orchestration.model_assets import batch_scores, model_assets
from orchestration.quality_checks import bronze_checks, feature_table_checks, layer_checks, scores_check
from orchestration.dask_resource import DaskResource
from orchestration.resources import LakeResource
from orchestration.strategy_assets import strategy_assets, strategy_jobs, strategy_schedules

# Partitioned assets (scores by business date, partner exports) run per business date in their own jobs.
unpartitioned = dg.AssetSelection.all() - dg.AssetSelection.groups("exports", "scores")

everything_job = dg.define_asset_job(
    "materialize_everything",
    selection=unpartitioned,
    description="Every materialisable asset, landing to the last layer (what `make demo` runs).",
    executor_def=dg.in_process_executor,  # one process on small machines: no per-step interpreter start-up
)

score_and_export_job = dg.define_asset_job(
    "score_and_export",
    selection=dg.AssetSelection.groups("scores", "exports"),
    partitions_def=BUSINESS_DATE_PARTITIONS,
    description="Score every population with the champions for one business date, then write each partner's export.",
    executor_def=dg.in_process_executor,
)


def build_definitions(lake_root: str | None = None, selection: dg.AssetSelection | None = None) -> dg.Definitions:
    """The code location for a lake (default: LAKE_ROOT). `selection` adds a job named `selected` running
    just those assets in-process, which tests use to run part of the graph on a lake of their own."""
    jobs = [everything_job, ingest_job, daily_analytics_job, score_and_export_job, *export_jobs, *strategy_jobs]
    if selection is not None:
        jobs.append(dg.define_asset_job("selected", selection=selection, executor_def=dg.in_process_executor))
    return dg.Definitions(
        assets=[*landing_specs, *bronze_assets, dbt_models, *feature_assets, *model_assets, batch_scores,
                *export_assets, *strategy_assets],
        asset_checks=[*bronze_checks, *layer_checks, *feature_table_checks, scores_check, *feature_checks],
        jobs=jobs,
        schedules=[daily_analytics_schedule, *export_schedules, *strategy_schedules],
        sensors=[landing_sensor],
        resources={
            "lake": LakeResource(root=lake_root or str(LakeLayout.from_env().root)),
            "dbt": DbtCliResource(project_dir=str(DBT_DIR), profiles_dir=str(DBT_DIR), dbt_executable=DBT_EXECUTABLE),
            "dask": DaskResource(),  # scheduler_address empty: DASK_SCHEDULER_ADDRESS, else in-process
            **export_resources,
        },
    )


defs = build_definitions()
