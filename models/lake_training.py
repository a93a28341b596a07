"""Training a label's models on the lake: labelled observations, the oracle for evaluation, registration.

Reads labels and the feature mart through ``lake.layout``; the simulator truth is joined for evaluation
only (the oracle AUC shown beside the model's), never as a model input.
"""
from __future__ import annotations

import duckdb
import pandas as pd

from lake.layout import LakeLayout
from models.grading import calibrate_registered
from models.lake_inputs import ModelDataError, feature_dictionary, lake_registry, load_features, model_specs


def training_observations(layout: LakeLayout, spec: dict, defaults: dict) -> pd.DataFrame:
    """Labelled observations for a label (deterministic sample when there are more than max_rows)."""
    target = spec["target"]
    n_max = int(spec.get("max_rows", defaults["max_rows"]))
    obs = duckdb.connect().sql(
        f"SELECT obs_id, customer_id, obs_at, obs_month, first_loan_id, {target}::INTEGER AS target "
        f"FROM read_parquet('{layout.labels.as_posix()}') WHERE {target} IS NOT NULL "
        f"ORDER BY hash(obs_id) LIMIT {n_max}"
    ).df()
    return obs.sort_values(["obs_month", "obs_id"]).reset_index(drop=True)


def oracle_probability(layout: LakeLayout, obs: pd.DataFrame, label: str) -> pd.Series | None:
    """EVALUATION ONLY: the simulator's true default probability for each observation, used to report
    the oracle AUC beside the model's. A/fraud: the first loan's true_pd. B/C: the highest true_pd of the
    customer's loans disbursed before the observation (the simulator has no account-level truth)."""
    truth = layout.truth_file("loans_truth")
    if not truth.exists():
        return None
    con = duckdb.connect()
    con.register("obs", obs[["obs_id", "customer_id", "obs_at", "first_loan_id"]])
    loans = layout.mart("loan_performance").as_posix()
    if label in ("a_card", "fraud"):
        sql = (f"SELECT o.obs_id, t.true_pd FROM obs o LEFT JOIN read_parquet('{truth.as_posix()}') t "
               f"ON t.loan_id = o.first_loan_id")
    else:
        sql = (f"SELECT o.obs_id, max(t.true_pd) AS true_pd FROM obs o "
               f"LEFT JOIN read_parquet('{loans}') l ON l.customer_id = o.customer_id AND l.disbursed_date < o.obs_at "
               f"LEFT JOIN read_parquet('{truth.as_posix()}') t ON t.loan_id = l.loan_id GROUP BY o.obs_id")
    pd_by_obs = con.sql(sql).df().set_index("obs_id")["true_pd"]
    return obs["obs_id"].map(pd_by_obs)


def train_label(layout: LakeLayout, label: str, log=print) -> dict:
    """Train the champion candidate and the baseline of one label, register both, return a summary."""
    from models.train import train_model

    specs = model_specs()
    defaults, spec = specs["defaults"], specs["labels"][label]
    obs = training_observations(layout, spec, defaults)
    if obs["target"].nunique() < 2 or obs["target"].sum() < 20:
        raise ModelDataError(f"{label}: only {len(obs)} labelled observations with {int(obs['target'].sum())} bads; "
                             "too few to train (is the world large / long enough?)")
    frame = load_features(layout, obs)
    oracle = oracle_probability(layout, obs, label)
    if oracle is not None:
        frame["oracle_pd"] = oracle.to_numpy()
    log(f"{label}: {len(frame):,} labelled observations x {frame.shape[1]:,} columns, bad rate {obs['target'].mean():.3f}")
    reg = lake_registry(layout)
    summary = {}
    for model_type in (defaults["champion_model_type"], defaults["baseline_model_type"]):
        result = train_model(
            frame, target="target", time_column="obs_month", model_type=model_type, label=label,
            split={"oot_fraction": float(defaults["oot_fraction"])},
            oracle_column="oracle_pd" if oracle is not None else None,
            id_columns=("obs_id", "customer_id"), exclude=("obs_at", "first_loan_id"),
            feature_dictionary=feature_dictionary(),
        )
        version = reg.register(result, label=label, model_name=f"{label}_{model_type}")
        calibrate_registered(reg, label, version, frame, obs["target"])  # grade cut-offs from the strategy targets
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


def champion_summary(layout: LakeLayout) -> dict:
    """Champion metrics per label, as the README / summary prints them."""
    reg = lake_registry(layout)
    out = {}
    for label in reg.labels():
        champ = reg.champion(label)
        if champ:
            out[label] = {"champion": champ, **{k: v for k, v in reg.metrics(label, champ).items()
                                                 if k in ("model_type", "auc_oot", "ks_oot", "gini_oot", "oracle_auc")}}
    return out
