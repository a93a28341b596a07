"""Risk models on the feature mart as Dagster assets (wiring only; the logic is in models/).

Graph: features/* + labels/labels -> models/<label> (``models.lake_training``) -> scores/batch_scores
(daily partitions, ``models.batch``) -> exports/*. What is trained is declared in models/specs/model_specs.yaml.
"""
import dagster as dg
import pandas as pd

from features.catalog import catalog
from lake.layout import LakeLayout
from models.batch import score_business_date
from models.lake_inputs import ModelDataError, model_specs
from models.lake_training import train_label
from orchestration.partitions import BUSINESS_DATE_PARTITIONS, SCORES_ASSET_KEY
from orchestration.resources import LakeResource

LABELS_KEY = dg.AssetKey(["labels", "labels"])
FEATURE_KEYS = [dg.AssetKey(["features", t]) for t in catalog().tables]


def model_asset(label: str) -> dg.AssetsDefinition:
    spec = model_specs()["labels"][label]

    @dg.asset(
        key=["models", label],
        deps=[LABELS_KEY, *FEATURE_KEYS],
        group_name="models",
        kinds={"lightgbm", "python"},
        description=f"{spec['description']} Trains LightGBM (champion candidate) and a WoE scorecard baseline on "
                    f"an in-time window, judges both out-of-time, and registers new versions (never overwriting).",
        pool="lakehouse_models",  # training holds thousands of columns in memory: one at a time on 2 cores
    )
    def _train(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        try:
            summary = train_label(lake.config(), label, log=context.log.info)
        except ModelDataError as err:
            raise dg.Failure(str(err)) from err
        champ = summary[model_specs()["defaults"]["champion_model_type"]]
        return dg.MaterializeResult(metadata={
            "champion": summary["champion"] or "none",
            "auc_oot": champ["auc_oot"], "ks_oot": champ["ks_oot"], "gini_oot": champ["gini_oot"],
            "oracle_auc": champ["oracle_auc"],
            "summary": dg.MetadataValue.json(summary),
        })

    return _train


model_assets = [model_asset(label) for label in model_specs()["labels"]]


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
