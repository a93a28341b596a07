"""Risk models on the feature mart as Dagster assets (wiring only; the logic is in models/).

Graph: features/* + labels/labels -> models/<label> (one step training the labels side by side,
``models.lake_training.train_labels``) -> scores/batch_scores
(daily partitions, ``models.batch``) -> exports/*. What is trained is declared in models/specs/model_specs.yaml.
"""
import dagster as dg
import pandas as pd

from features.catalog import catalog
from lake.layout import LakeLayout
from models.batch import score_business_date
from models.lake_inputs import ModelDataError, lake_registry, model_specs
from models.lake_training import train_labels
from models.monitoring import backfill
from orchestration.partitions import BUSINESS_DATE_PARTITIONS, SCORES_ASSET_KEY
from orchestration.resources import LakeResource

LABELS_KEY = dg.AssetKey(["labels", "labels"])
FEATURE_KEYS = [dg.AssetKey(["features", t]) for t in catalog().tables]


def _label_metadata(summary: dict) -> dict:
    champ = summary[summary["best"]]
    return {"champion": summary["champion"] or "none", "best_model_type": summary["best"],
            "promotion": summary["promotion"]["reason"],
            "auc_oot": champ["auc_oot"], "ks_oot": champ["ks_oot"], "gini_oot": champ["gini_oot"],
            "oracle_auc": champ["oracle_auc"], "summary": dg.MetadataValue.json(summary)}


LABELS = list(model_specs()["labels"])


@dg.multi_asset(
    specs=[dg.AssetSpec(["models", label], deps=[LABELS_KEY, *FEATURE_KEYS], group_name="models",
                        kinds={"lightgbm", "python"}, skippable=True,
                        description=f"{model_specs()['labels'][label]['description']} LightGBM and a WoE scorecard "
                                    "trained on an in-time window, judged out-of-time against the true oracle, "
                                    "registered as new versions (never overwriting); the better by validation AUC "
                                    "becomes the champion candidate (auto-promoted or waiting for an approval).")
           for label in LABELS],
    can_subset=True,
    name="train_models",
    pool="lakehouse_models",  # thousands of columns in memory per label: an instance can cap trainings by pool
)
def train_models(context: dg.AssetExecutionContext, lake: LakeResource):
    """The selected labels, trained side by side in worker processes (models.lake_training.train_labels): one
    step in the run, one materialisation per label; a label that fails fails the step after the others land."""
    selected = {key.path[-1] for key in context.selected_asset_keys}
    labels = [label for label in LABELS if label in selected]  # the specs' order, not a set's: stable logs
    results = train_labels(lake.config(), labels, log=context.log.info)
    failed = {label: err for label, err in results.items() if isinstance(err, Exception)}
    for label, summary in results.items():
        if label not in failed:
            yield dg.MaterializeResult(asset_key=["models", label], metadata=_label_metadata(summary))
    if failed:
        unexpected = [label for label, err in failed.items() if not isinstance(err, ModelDataError)]
        raise dg.Failure("; ".join(f"{label}: {err}" for label, err in failed.items())) from (
            failed[unexpected[0]] if unexpected else None)


def monitoring_asset(label: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["monitoring", label],
        deps=[dg.AssetKey(["models", label])],
        group_name="models",
        kinds={"parquet", "python"},
        description=f"Backfill of {label}: the champion scores past observation months; realised vs expected bad "
                    "rate by grade, AUC / KS / score PSI by month, feature CSI against the training window, and the "
                    "version's model card (models.monitoring).",
        pool="lakehouse_models",
    )
    def _monitor(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        layout = lake.config()
        if lake_registry(layout).champion(label) is None:
            context.log.warning(f"{label}: no champion (waiting for an approval?); nothing to monitor")
            return dg.MaterializeResult(metadata={"champion": "none"})
        try:
            out = backfill(layout, label, log=context.log.info)
        except ModelDataError as err:
            raise dg.Failure(str(err)) from err
        return dg.MaterializeResult(metadata={"version": out["version"], "rows": out["rows"], "months": out["months"],
                                              "model_card": dg.MetadataValue.path(out["model_card"])})

    return _monitor


model_assets = [train_models, *(monitoring_asset(label) for label in LABELS)]


@dg.asset(
    key=SCORES_ASSET_KEY,
    deps=[dg.AssetKey(["models", label]) for label in model_specs()["labels"]],
    partitions_def=BUSINESS_DATE_PARTITIONS,
    group_name="scores",
    kinds={"parquet"},
    description="Scores of every customer's latest observation with each label's champion: probability, points, "
                "grade, top-3 reasons (LightGBM SHAP), decision and recommended limit from the strategy YAML. "
                "Written to LakeLayout.scores_file(D) in the scores contract (lake/scores.py).",
)
def batch_scores(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    try:
        result = score_business_date(lake.config(), context.partition_key, log=context.log.warning)
    except ModelDataError as err:
        raise dg.Failure(str(err)) from err
    scored = result.scored
    fired = scored["rules_fired"].fillna("").str.split(";").explode() if "rules_fired" in scored else pd.Series([], dtype=str)
    return dg.MaterializeResult(metadata={
        "rows": len(scored), "rows_by_label": dg.MetadataValue.json(result.rows_by_label),
        "decisions": dg.MetadataValue.json(scored.groupby(["label", "decision"]).size().rename("n").reset_index()
                                           .to_dict(orient="records")),
        "rules_fired": dg.MetadataValue.json(fired[fired != ""].value_counts().head(15).to_dict()),
        "path": dg.MetadataValue.path(str(result.scores_path)),
    })


if __name__ == "__main__":  # quick look at the registry: python -m orchestration.model_assets
    import json

    from models.lake_training import champion_summary

    print(json.dumps(champion_summary(LakeLayout.from_env()), indent=1, default=str))
