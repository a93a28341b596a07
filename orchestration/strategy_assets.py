"""Strategy governance as Dagster definitions (wiring only; the logic is in models/backtest.py, models/batch.py).

* ``scores/batch_scores`` runs on a daily schedule ahead of the partner exports (their earliest cron), so the
  export schedules never depend on a manual scoring run.
* ``strategy/backtest`` replays the champion strategy and a candidate YAML over matured history and writes
  the tables under ``LakeLayout.backtest`` (summary, by_grade, rule_hits, swap_set, arms).
"""

import dagster as dg

from lake.layout import REPO_ROOT
from models.backtest import BacktestError, candidate_name, run_backtest
from orchestration.partitions import BUSINESS_DATE_PARTITIONS, SCORES_ASSET_KEY
from orchestration.resources import LakeResource

SCORES_HOUR, SCORES_MINUTE = 6, 45  # Asia/Shanghai: after daily analytics (06:00), before the first export (07:30)
DEFAULT_CANDIDATE = "models/strategy/candidates/stricter_multi_lending.yaml"

batch_scores_job = dg.define_asset_job(
    "batch_scores_daily", selection=[SCORES_ASSET_KEY], partitions_def=BUSINESS_DATE_PARTITIONS,
    description="Score every population with the champions and decide, for the previous business date.")

batch_scores_schedule = dg.build_schedule_from_partitioned_job(
    batch_scores_job, name="batch_scores_schedule", hour_of_day=SCORES_HOUR, minute_of_hour=SCORES_MINUTE,
    description="Daily scoring of the previous business date, ahead of every partner export schedule.",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


class BacktestConfig(dg.Config):
    candidate: str = DEFAULT_CANDIDATE  # strategy YAML, relative to the repository or absolute
    rebuild_history: bool = True        # rescore the matured history with today's champions


@dg.asset(
    key=["strategy", "backtest"],
    deps=[dg.AssetKey(["models", "a_card"]), dg.AssetKey(["models", "fraud"])],
    group_name="strategy",
    kinds={"parquet", "python"},
    description="Replays the champion strategy and a candidate YAML over matured applications (point-in-time "
                "features, champion scores): approval and bad rates, exposure and expected loss by grade, rule hit "
                "rates, the swap set and the champion/challenger arms, written to <lake>/strategy/backtest/.",
)
def strategy_backtest(context: dg.AssetExecutionContext, config: BacktestConfig, lake: LakeResource) -> dg.MaterializeResult:
    path = config.candidate if config.candidate.startswith("/") else str(REPO_ROOT / config.candidate)
    try:
        comp = run_backtest(lake.config(), path, rebuild_history=config.rebuild_history, log=context.log.info)
    except BacktestError as err:
        raise dg.Failure(str(err)) from err
    summary = comp.tables["summary"].set_index("strategy")
    swap = comp.tables["swap_set"].set_index("cell")
    return dg.MaterializeResult(metadata={
        "candidate": candidate_name(path), "champion_version": comp.champion_version,
        "candidate_version": comp.candidate_version,
        "approval_rate": dg.MetadataValue.json(summary["approval_rate"].round(4).to_dict()),
        "bad_rate_count": dg.MetadataValue.json(summary["bad_rate_count"].round(4).to_dict()),
        "swap_set_rows": dg.MetadataValue.json(swap["rows"].to_dict()),
    })


strategy_assets = [strategy_backtest]
strategy_schedules = [batch_scores_schedule]
strategy_jobs = [batch_scores_job]
