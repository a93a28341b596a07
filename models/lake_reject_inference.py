"""Reject inference for the lake's A-card, judged on the through-the-door population with the simulator truth.

Every application (booked or declined) has an observation on the feature-mart spine; the A-card label exists
for booked applicants only. The methods of :mod:`models.reject_inference` are trained on the feature mart,
then every model is scored on all applications of the out-of-time window and compared with the simulator's
counterfactual outcomes (``truth/applications_truth.parquet``: what each applicant would have done had they
been booked). The truth is read for that evaluation only, in its own frame, never joined to a training frame.
The best method is registered as an A-card challenger (never promoted here).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lake import storage
from lake.layout import LakeLayout
from models.lake_inputs import ModelDataError, feature_dictionary, lake_registry, load_features, model_specs
from models.reject_inference import METHODS, fit_reject_inference, ttd_auc_table

LABEL = "a_card"
ACCEPTED = "accepted"
DEFAULT_METHODS = ("fuzzy", "parcelling", "reweighting")
# which TTD figure picks the best method: the AUC against the true probability (no outcome-draw noise)
SELECTION_METRIC = "auc_ttd_true_pd"


def application_observations(layout: LakeLayout, max_rows: int | None = None) -> pd.DataFrame:
    """One row per application observation: keys, the A-card target (NaN unless booked with 6 MOB observed)
    and the old policy's decision (``accepted``), from the spine, the labels and the bronze applications."""
    spec = model_specs()["labels"][LABEL]
    target = spec["target"]
    limit = f"ORDER BY hash(s.obs_id) LIMIT {int(max_rows)}" if max_rows else ""
    apps = f"{layout.bronze_dir('applications').as_posix()}/**/*.parquet"
    obs = storage.connect(layout.root).sql(
        f"SELECT s.obs_id, s.customer_id, s.obs_at, s.obs_month, s.application_id, "
        f"l.{target}::DOUBLE AS target, (a.decision = 'approved') AS {ACCEPTED} "
        f"FROM read_parquet('{layout.feature_spine.as_posix()}') s "
        f"JOIN read_parquet('{layout.labels.as_posix()}') l USING (obs_id) "
        f"JOIN read_parquet('{apps}', union_by_name = true) a ON a.application_id = s.application_id "
        f"WHERE s.is_application {limit}"
    ).df()
    if obs.empty:
        raise ModelDataError(f"no application observations in {layout.feature_spine}: build the feature mart first")
    obs[ACCEPTED] = obs[ACCEPTED].fillna(False).astype(bool)
    return obs.sort_values(["obs_month", "obs_id"]).reset_index(drop=True)


def application_truth(layout: LakeLayout, obs: pd.DataFrame) -> pd.DataFrame:
    """EVALUATION ONLY: the counterfactual A-card outcome of each observation's application (same order)."""
    path = layout.truth_file("applications_truth")
    if not path.exists():
        raise ModelDataError(f"{path} is missing: the through-the-door evaluation needs the simulator's "
                             "application truth (simulate the world again with this version)")
    con = storage.connect(layout.root)
    con.register("obs", obs[["obs_id", "application_id"]])
    truth = con.sql(
        f"SELECT o.obs_id, t.true_pd_a_card, t.bad_a_card, t.mob6_observed, t.outcome_source "
        f"FROM obs o LEFT JOIN read_parquet('{path.as_posix()}') t USING (application_id)").df()
    return truth.set_index("obs_id").reindex(obs["obs_id"]).reset_index()


def _champion_model_type(layout: LakeLayout, defaults: dict) -> str:
    """The A-card champion's model type (so the challenger competes like for like), else the first declared."""
    reg = lake_registry(layout)
    champ = reg.champion(LABEL)
    return reg.metrics(LABEL, champ)["model_type"] if champ else defaults["model_types"][0]


def _json_ready(obj):
    """numpy scalars to Python, NaN to None (metrics.json stays valid JSON)."""
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    return obj


@dataclass
class RejectInferenceReport:
    table: pd.DataFrame          # one row per model (+ the oracle): TTD AUCs on the OOT window
    fits: dict                   # method -> RejectInferenceFit
    best_method: str
    challenger_version: str | None
    info: dict


def run_reject_inference(layout: LakeLayout, methods=DEFAULT_METHODS, model_type: str | None = None,
                         register: bool = True, n_boot: int = 200, max_rows: int | None = None,
                         log=print) -> RejectInferenceReport:
    """Fit the accepted-only A-card and each reject-inference method, judge them on the TTD population of
    the out-of-time window against the truth, and register the best method as a challenger."""
    unknown = [m for m in methods if m not in METHODS or m == "accepted_only"]
    if unknown:
        raise ValueError(f"unknown reject-inference method(s) {unknown}; choose from {METHODS[1:]}")
    from models.lake_training import lightgbm_selection

    defaults = model_specs()["defaults"]
    model_type = model_type or _champion_model_type(layout, defaults)
    obs = application_observations(layout, max_rows=max_rows or int(defaults["max_rows"]))
    n_acc = int(obs["target"].notna().sum())
    n_bads = int(obs["target"].sum())
    if n_acc == 0 or n_bads < 20:
        raise ModelDataError(f"{LABEL}: {n_acc} labelled applications with {int(obs['target'].sum())} bads: "
                             "too few for reject inference (is the world large / long enough?)")
    frame = load_features(layout, obs)
    log(f"reject inference: {len(frame):,} applications ({int((~frame[ACCEPTED]).sum()):,} declined, "
        f"{n_acc:,} booked with an outcome), {frame.shape[1]:,} columns")
    common = dict(target="target", accepted_column=ACCEPTED, time_column="obs_month", model_type=model_type,
                  label=LABEL, split={"oot_fraction": float(defaults["oot_fraction"])},
                  id_columns=("obs_id", "customer_id"), exclude=("obs_at", "application_id"),
                  feature_dictionary=feature_dictionary(),
                  select=lightgbm_selection(defaults, n_bads) if model_type == "lightgbm" else True)
    fits = {"accepted_only": fit_reject_inference(frame, method="accepted_only", **common)}
    baseline = fits["accepted_only"].result
    for method in methods:
        fits[method] = fit_reject_inference(frame, method=method, baseline=baseline, **common)
        log(f"  {method}: {fits[method].info}")

    split = baseline.split
    t = frame["obs_month"]
    truth = application_truth(layout, obs)
    in_oot = ((t >= pd.Timestamp(split["oot_start"])) & (t <= pd.Timestamp(split["oot_end"]))).to_numpy()
    known = truth["bad_a_card"].notna().to_numpy() & truth["mob6_observed"].fillna(False).to_numpy(bool)
    ttd = frame[in_oot & known]
    ttd_truth = truth[in_oot & known]
    scores = {name: fit.result.predict_proba(ttd) for name, fit in fits.items()}
    table = ttd_auc_table(scores, ttd_truth["bad_a_card"].astype(int), ttd_truth["true_pd_a_card"],
                          ttd[ACCEPTED], n_boot=n_boot)
    table.insert(1, "auc_oot_booked", [fits[m].result.metrics.get("auc_oot") if m in fits else None
                                       for m in table["model"]])
    info = {"n_applications": len(frame), "decline_rate": float((~frame[ACCEPTED]).mean()),
            "n_ttd_oot": len(ttd), "ttd_oot_decline_rate": float((~ttd[ACCEPTED]).mean()),
            "oot_start": str(split["oot_start"]), "oot_end": str(split["oot_end"]),
            "model_type": model_type, "selection_metric": SELECTION_METRIC}
    by = table.set_index("model")
    best = max(methods, key=lambda m: by.loc[m, SELECTION_METRIC])
    version = None
    if register:
        row, base = by.loc[best], by.loc["accepted_only"]
        extra = {
            "reject_inference_method": best, "role": "challenger", "selection_metric": SELECTION_METRIC,
            "auc_ttd": row["auc_ttd"], "auc_ttd_ci": [row["auc_ttd_ci_low"], row["auc_ttd_ci_high"]],
            "auc_ttd_true_pd": row["auc_ttd_true_pd"], "auc_ttd_rejects": row["auc_rejects"],
            "mean_pd_rejects": row["mean_pd_rejects"], "true_pd_rejects": row["true_pd_rejects"],
            "accepted_only_auc_ttd": base["auc_ttd"], "accepted_only_auc_ttd_true_pd": base["auc_ttd_true_pd"],
            "auc_ttd_true_pd_gain": row["auc_ttd_true_pd"] - base["auc_ttd_true_pd"],
            "oracle_auc_ttd": by.loc["oracle (true pd)", "auc_ttd"],
            "reject_inference": {**fits[best].info, **info,
                                 "table": table.replace({np.nan: None}).to_dict(orient="records")},
        }
        version = lake_registry(layout).register(fits[best].result, label=LABEL,
                                                 model_name=f"{LABEL}_{model_type}_ri_{best}",
                                                 extra_metrics=_json_ready(extra))
        log(f"registered {LABEL} {version} ({best}) as a challenger; champion unchanged")
    return RejectInferenceReport(table=table, fits=fits, best_method=best, challenger_version=version, info=info)
