"""Risk models on the feature mart: one training asset per label, batch scores by business date, decisions.

Graph: features/* + labels/labels -> models/<label> (LightGBM champion candidate + WoE scorecard baseline,
registered under <lake>/models/registry) -> scores/batch_scores (daily partitions) -> exports/*.
What is trained is declared in models/specs/model_specs.yaml.
"""
import json
from functools import lru_cache
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from exports.contract import conform_scores_table, scores_path
from features.catalog import KEY_COLUMNS, catalog
from models.registry import ModelRegistry
from orchestration.export_assets import BUSINESS_DATE_PARTITIONS, SCORES_ASSET_KEY
from orchestration.resources import LakeResource

SPECS_DIR = Path(__file__).resolve().parent.parent / "models" / "specs"
LABELS_KEY = dg.AssetKey(["labels", "labels"])
FEATURE_KEYS = [dg.AssetKey(["features", t]) for t in catalog().tables]


@lru_cache(maxsize=1)
def model_specs() -> dict:
    return yaml.safe_load((SPECS_DIR / "model_specs.yaml").read_text())


def registry(root: Path) -> ModelRegistry:
    return ModelRegistry(root / "models" / "registry")


def feature_dictionary(root: Path) -> dict[str, str]:
    path = Path(__file__).resolve().parent.parent / "features" / "docs" / "feature_dictionary.csv"
    table = pd.read_csv(path, usecols=["name", "description"])
    return dict(zip(table["name"], table["description"]))


def load_features(root: Path, obs: pd.DataFrame) -> pd.DataFrame:
    """Every family table's features for the given observations, one row per obs_id (same order).
    Families are read one at a time with a semi-join, so only the needed rows are materialised."""
    con = duckdb.connect()
    con.register("wanted", obs[["obs_id"]])
    frames = [obs.reset_index(drop=True)]
    for table in catalog().tables:
        path = root / "features" / f"{table}.parquet"
        part = con.sql(f"SELECT f.* EXCLUDE ({', '.join(c for c in KEY_COLUMNS if c != 'obs_id')}) "
                       f"FROM read_parquet('{path.as_posix()}') f SEMI JOIN wanted USING (obs_id)").df()
        part = part.set_index("obs_id").reindex(obs["obs_id"].to_numpy())
        num = part.select_dtypes(include=["number", "bool"]).columns
        part[num] = part[num].astype("float32")  # halves memory of thousands of columns
        frames.append(part.reset_index(drop=True))
    return pd.concat(frames, axis=1)


def training_observations(root: Path, label: str, spec: dict, defaults: dict) -> pd.DataFrame:
    """Labelled observations for a label (deterministic sample when there are more than max_rows)."""
    labels = (root / "marts" / "labels.parquet").as_posix()
    target = spec["target"]
    n_max = int(spec.get("max_rows", defaults["max_rows"]))
    con = duckdb.connect()
    obs = con.sql(
        f"SELECT obs_id, customer_id, obs_at, obs_month, first_loan_id, {target}::INTEGER AS target "
        f"FROM read_parquet('{labels}') WHERE {target} IS NOT NULL "
        f"ORDER BY hash(obs_id) LIMIT {n_max}"
    ).df()
    return obs.sort_values(["obs_month", "obs_id"]).reset_index(drop=True)


def oracle_probability(root: Path, obs: pd.DataFrame, label: str) -> pd.Series | None:
    """EVALUATION ONLY: the simulator's true default probability for each observation, used to report
    the oracle AUC beside the model's. A/fraud: the first loan's true_pd. B/C: the highest true_pd of the
    customer's loans disbursed before the observation (the simulator has no account-level truth)."""
    truth = root / "truth" / "loans_truth.parquet"
    if not truth.exists():
        return None
    con = duckdb.connect()
    con.register("obs", obs[["obs_id", "customer_id", "obs_at", "first_loan_id"]])
    loans = (root / "marts" / "loan_performance.parquet").as_posix()
    if label in ("a_card", "fraud"):
        sql = (f"SELECT o.obs_id, t.true_pd FROM obs o LEFT JOIN read_parquet('{truth.as_posix()}') t "
               f"ON t.loan_id = o.first_loan_id")
    else:
        sql = (f"SELECT o.obs_id, max(t.true_pd) AS true_pd FROM obs o "
               f"LEFT JOIN read_parquet('{loans}') l ON l.customer_id = o.customer_id AND l.disbursed_date < o.obs_at "
               f"LEFT JOIN read_parquet('{truth.as_posix()}') t ON t.loan_id = l.loan_id GROUP BY o.obs_id")
    pd_by_obs = con.sql(sql).df().set_index("obs_id")["true_pd"]
    return obs["obs_id"].map(pd_by_obs)


def train_label(root: Path, label: str, log=print) -> dict:
    from models.train import train_model

    specs = model_specs()
    defaults, spec = specs["defaults"], specs["labels"][label]
    obs = training_observations(root, label, spec, defaults)
    if obs["target"].nunique() < 2 or obs["target"].sum() < 20:
        raise dg.Failure(f"{label}: only {len(obs)} labelled observations with {int(obs['target'].sum())} bads; "
                         "too few to train (is the world large / long enough?)")
    frame = load_features(root, obs)
    oracle = oracle_probability(root, obs, label)
    if oracle is not None:
        frame["oracle_pd"] = oracle.to_numpy()
    log(f"{label}: {len(frame):,} labelled observations x {frame.shape[1]:,} columns, bad rate {obs['target'].mean():.3f}")
    reg = registry(root)
    dictionary = feature_dictionary(root)
    summary = {}
    for model_type in (defaults["champion_model_type"], defaults["baseline_model_type"]):
        result = train_model(
            frame, target="target", time_column="obs_month", model_type=model_type, label=label,
            split={"oot_fraction": float(defaults["oot_fraction"])},
            oracle_column="oracle_pd" if oracle is not None else None,
            id_columns=("obs_id", "customer_id"), exclude=("obs_at", "first_loan_id"),
            feature_dictionary=dictionary,
        )
        version = reg.register(result, label=label, model_name=f"{label}_{model_type}")
        if model_type == defaults["champion_model_type"]:
            reg.promote_if_better(label, version, margin=float(defaults["promotion_margin"]))
        m = result.metrics
        summary[model_type] = {"version": version, **{k: m.get(k) for k in (
            "auc_oot", "gini_oot", "ks_oot", "oracle_auc", "psi_score_train_oot", "n_train", "n_oot", "n_features")},
            "train_seconds": round(result.timings.get("total", sum(result.timings.values())), 1)}
        log(f"{label} {model_type} {version}: AUC OOT {m.get('auc_oot'):.3f} (oracle {m.get('oracle_auc') or float('nan'):.3f}), "
            f"KS {m.get('ks_oot'):.3f}, {m.get('n_features')} features")
    summary["champion"] = reg.champion(label)
    return summary


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
        summary = train_label(lake.config().root, label, log=context.log.info)
        champ = summary[model_specs()["defaults"]["champion_model_type"]]
        return dg.MaterializeResult(metadata={
            "champion": summary["champion"] or "none",
            "auc_oot": champ["auc_oot"], "ks_oot": champ["ks_oot"], "gini_oot": champ["gini_oot"],
            "oracle_auc": champ["oracle_auc"],
            "summary": dg.MetadataValue.json(summary),
        })

    return _train


model_assets = [model_asset(label) for label in model_specs()["labels"]]


def with_decision_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the columns the decision rules name (models/specs/decision_inputs.yaml) from mart features."""
    path = SPECS_DIR / "decision_inputs.yaml"
    out = {}
    for name, src in yaml.safe_load(path.read_text()).items():
        if "constant" in src:
            out[name] = np.full(len(frame), src["constant"])
            continue
        if src["feature"] not in frame.columns:
            raise dg.Failure(f"{path}: decision input {name!r} names feature {src['feature']!r}, which the "
                             "feature mart does not have; fix the mapping or add the feature to features/catalog.yaml")
        values = frame[src["feature"]].astype("float64")
        transform = src.get("transform")
        if transform == "positive":
            values = (values.fillna(0) > 0).astype("int64")
        elif transform == "days_to_months":
            values = values / 30.44
        out[name] = values.to_numpy()
    frame = frame.drop(columns=[c for c in out if c in frame.columns])  # a same-named feature is replaced
    return pd.concat([frame, pd.DataFrame(out, index=frame.index)], axis=1)


def latest_observations(root: Path, population: str, business_date: str) -> pd.DataFrame:
    """Each customer's latest observation of the population on or before the business date, with the
    funding partner of the customer's latest loan (the population a partner receives)."""
    spine = (root / "features" / "feat_spine.parquet").as_posix()
    loans = (root / "marts" / "loan_performance.parquet").as_posix()
    return duckdb.sql(f"""
        WITH obs AS (
            SELECT obs_id, customer_id, obs_at FROM read_parquet('{spine}')
            WHERE {population} AND obs_at < DATE '{business_date}' + INTERVAL 1 DAY
            QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY obs_at DESC) = 1
        ), partner AS (
            SELECT customer_id, arg_max(partner_id, disbursed_date) AS partner_id FROM read_parquet('{loans}')
            WHERE disbursed_date <= DATE '{business_date}' GROUP BY customer_id
        )
        SELECT obs.*, partner.partner_id FROM obs LEFT JOIN partner USING (customer_id) ORDER BY obs_id
    """).df()


@dg.asset(
    key=SCORES_ASSET_KEY,
    deps=[dg.AssetKey(["models", label]) for label in model_specs()["labels"]],
    partitions_def=BUSINESS_DATE_PARTITIONS,
    group_name="scores",
    kinds={"parquet"},
    description="Scores of every customer's latest observation with each label's champion: probability, points, "
                "grade, top-3 reasons (LightGBM SHAP), decision and recommended limit from the strategy YAML. "
                "Written to <lake>/scores/business_date=D/scores.parquet in the exports' scores contract.",
)
def batch_scores(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    from models.scoring import score_frame, scores_to_arrow
    from models.strategy import load_strategy

    root = lake.config().root
    date = context.partition_key
    reg, strategy = registry(root), load_strategy()
    parts, counts = [], {}
    for label, spec in model_specs()["labels"].items():
        if reg.champion(label) is None:
            context.log.warning(f"{label}: no champion registered yet; not scored")
            continue
        obs = latest_observations(root, spec["population"], date)
        obs = obs[obs["partner_id"].notna()]
        if obs.empty:
            continue
        frame = with_decision_inputs(load_features(root, obs))
        scored = score_frame(frame, reg.load(label), date, label=label, strategy=strategy, reasons=["C", "D", "E"],
                             details=True)
        parts.append(scored)
        counts[label] = len(scored)
    if not parts:
        raise dg.Failure(f"nothing to score on {date}: no champion models or no observations before that date")
    scored = pd.concat(parts, ignore_index=True)
    table = conform_scores_table(scores_to_arrow(scored))
    path = scores_path(date, root)
    # Why each decision was made (rules fired, deciding rule or grade, champion/challenger arm): kept beside
    # the scores for audit, never exported to partners.
    why = [c for c in ("rules_fired", "reason", "arm", "drawdown_block", "queue") if c in scored.columns]
    decisions = pa.Table.from_pandas(scored[["customer_id", "label", "model_version", "grade", "decision",
                                             "recommended_limit", *why]].astype({c: "string" for c in why}),
                                     preserve_index=False)
    for tbl, target in ((decisions, path.with_name("decisions.parquet")), (table, path)):  # scores last
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        pq.write_table(tbl, tmp)
        tmp.replace(target)
    fired = scored["rules_fired"].fillna("").str.split(";").explode() if "rules_fired" in scored else pd.Series([], dtype=str)
    return dg.MaterializeResult(metadata={
        "rows": table.num_rows, "rows_by_label": dg.MetadataValue.json(counts),
        "decisions": dg.MetadataValue.json(scored.groupby(["label", "decision"]).size().rename("n").reset_index()
                                           .to_dict(orient="records")),
        "rules_fired": dg.MetadataValue.json(fired[fired != ""].value_counts().head(15).to_dict()),
        "path": dg.MetadataValue.path(str(path)),
    })


def score_summary(root: Path) -> dict:
    """Champion metrics per label, as the README / summary prints them."""
    reg = registry(root)
    out = {}
    for label in reg.labels():
        champ = reg.champion(label)
        if champ:
            out[label] = {"champion": champ, **{k: v for k, v in reg.metrics(label, champ).items()
                                                 if k in ("model_type", "auc_oot", "ks_oot", "gini_oot", "oracle_auc")}}
    return out


if __name__ == "__main__":  # quick look at the registry: python -m orchestration.model_assets
    from orchestration.config import LakeConfig

    print(json.dumps(score_summary(LakeConfig.from_env().root), indent=1, default=str))
