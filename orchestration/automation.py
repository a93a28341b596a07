"""Schedules and sensors: ingest when files land, refresh analytics daily."""
import hashlib

import dagster as dg

from lake.layout import LakeLayout
from lake.contracts import load_contracts
from orchestration.ingest.pipeline import ingested_files
from orchestration.resources import LakeResource

ingest_job = dg.define_asset_job(
    "ingest_landing",
    selection=dg.AssetSelection.groups("bronze"),
    description="Ingest new landing files into bronze (launched by the landing sensor).",
)

daily_analytics_job = dg.define_asset_job(
    "daily_analytics",
    selection=dg.AssetSelection.groups("bronze").downstream() - dg.AssetSelection.groups("bronze", "scores", "exports"),
    description="Marts -> features -> models, once a day on the latest bronze (scores and partner exports "
                "run per business date on their own schedules).",
)

daily_analytics_schedule = dg.ScheduleDefinition(
    job=daily_analytics_job,
    cron_schedule="0 6 * * *",
    execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


def pending_files(lake: LakeLayout) -> dict[str, list[str]]:
    """Landing files per table that no committed ingest batch has taken yet (by path; content changes
    are caught by the ingest itself through the SHA-256)."""
    pending = {}
    for table, contract in load_contracts().items():
        folder = contract.landing_dir(lake.landing)
        if not folder.exists():
            continue
        done = {path for path, _ in ingested_files(lake, table)}
        new = sorted(p.relative_to(lake.landing).as_posix() for p in folder.rglob(f"*{contract.extension}"))
        new = [p for p in new if p not in done]
        if new:
            pending[table] = new
    return pending


@dg.sensor(job=ingest_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    """Launch the ingest of exactly the tables that have new files; the run key makes it fire once per set."""
    pending = pending_files(lake.config())
    if not pending:
        return dg.SkipReason("no new landing files")
    fingerprint = hashlib.sha256(repr(sorted(pending.items())).encode()).hexdigest()[:16]
    tables = sorted(pending)
    context.log.info(f"new files: {', '.join(f'{t}={len(pending[t])}' for t in tables)}")
    return dg.RunRequest(run_key=fingerprint, asset_selection=[dg.AssetKey(["bronze", t]) for t in tables],
                         tags={"new_files": str(sum(len(v) for v in pending.values()))})
