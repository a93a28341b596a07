"""Training a label's models on the lake: labelled observations, the oracle for evaluation, registration.

Reads labels and the feature mart through ``lake.layout``; the simulator truth is joined for evaluation
only (the oracle AUC shown beside the model's), never as a model input.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lake import storage
from lake.layout import LakeLayout
from models.grading import calibrate_registered
from models.lake_inputs import ModelDataError, feature_dictionary, lake_registry, load_features, mart_shard_count, model_specs


def training_observations(layout: LakeLayout, spec: dict, defaults: dict) -> pd.DataFrame:
    """Labelled observations for a label; when there are more than max_rows, a deterministic sample that
    reads few of the mart's customer shards (hash(customer_id) % n, the mart's own) yet spreads over
    customers: shards 0, 1, ... are taken until they hold max_rows customers with a labelled observation,
    and within them observations are drawn uniformly by hash(obs_id). So a customer adds about one row or
    fewer (a customer's month-ends share their outcome windows: few customers with many rows each carry
    less than their row count), and the sample's bad rate is the population's (a shard is a random set of
    customers; one row per customer would over-weight short histories). load_features then reads only
    those shards' part files."""
    target = spec["target"]
    n_max = int(spec.get("max_rows", defaults["max_rows"]))
    from features.shards import shard_of_sql

    n_shards = mart_shard_count(layout)
    obs = storage.connect(layout.root).sql(f"""
        WITH labelled AS (
            SELECT obs_id, customer_id, obs_at, obs_month, first_loan_id, {target}::INTEGER AS target,
                   {shard_of_sql(n_shards, "customer_id::VARCHAR")} AS shard
            FROM read_parquet('{layout.labels.as_posix()}') WHERE {target} IS NOT NULL),
        shards AS (
            SELECT shard, sum(count(DISTINCT customer_id)) OVER (ORDER BY shard) - count(DISTINCT customer_id) AS before
            FROM labelled GROUP BY shard),
        chosen AS (SELECT shard FROM shards WHERE before < {n_max})
        SELECT obs_id, customer_id, obs_at, obs_month, first_loan_id, target FROM labelled SEMI JOIN chosen USING (shard)
        ORDER BY hash(obs_id), obs_id LIMIT {n_max}
    """).df()
    return obs.sort_values(["obs_month", "obs_id"]).reset_index(drop=True)


# Which truth file and column hold each label's true event probability (simulator/oracle.py), and how an
# observation finds its row: applications by application_id, month-ends by customer and month-end date.
ORACLE_SOURCES = {
    "a_card": ("application_oracle", "p_a_card"),
    "fraud": ("application_oracle", "p_fraud"),
    "b_card": ("month_end_oracle", "p_b_card"),
    "c_card": ("month_end_oracle", "p_c_card"),
}


def oracle_probability(layout: LakeLayout, obs: pd.DataFrame, label: str) -> pd.Series | None:
    """EVALUATION ONLY: the simulator's true probability of this label's event for each observation
    (``simulator/oracle.py``: the Bayes posterior given the latent state and the history at the observation
    time), used to report the oracle AUC beside the model's. None when the lake has no such truth."""
    if label not in ORACLE_SOURCES:
        return None
    name, column = ORACLE_SOURCES[label]
    truth = layout.truth_file(name)
    if not truth.exists():
        return None
    con = storage.connect(layout.root)
    con.register("obs", obs[["obs_id", "customer_id", "obs_at"]])
    labels = layout.labels.as_posix()
    if name == "application_oracle":
        sql = (f"SELECT o.obs_id, t.{column} AS p FROM obs o "
               f"JOIN read_parquet('{labels}') l USING (obs_id) "
               f"LEFT JOIN read_parquet('{truth.as_posix()}') t ON t.application_id = l.application_id "
               f"ORDER BY o.obs_id")
    else:  # a month-end observation is taken at the first instant after its month-end date
        sql = (f"SELECT o.obs_id, t.{column} AS p FROM obs o "
               f"LEFT JOIN read_parquet('{truth.as_posix()}') t ON t.customer_id = o.customer_id "
               f"AND t.month_end = CAST(o.obs_at - INTERVAL 1 MICROSECOND AS DATE) ORDER BY o.obs_id")
    p_by_obs = con.sql(sql).df().drop_duplicates("obs_id").set_index("obs_id")["p"]
    return obs["obs_id"].map(p_by_obs)


def lightgbm_selection(spec_defaults: dict, n_bads: int) -> dict:
    """LightGBM pre-selection overrides: the feature cap grows with the number of bads (about one feature
    per two bads), so a small world does not fit 2,000 columns on 300 bads."""
    cfg = dict(spec_defaults.get("selection", {}).get("lightgbm", {}))
    per_bad = float(cfg.pop("features_per_bad", 0.5))
    lo, hi = int(cfg.pop("min_features", 15)), int(cfg.pop("max_features", 150))
    cfg["max_features"] = int(min(hi, max(lo, round(n_bads * per_bad))))
    return cfg


# The champion is chosen on the in-time cross-validation each model type runs anyway (train_model's
# validation="cv"): the same stratified folds (seed 42) for LightGBM and the scorecard, each customer's
# observations in one fold (overlapping outcome windows would otherwise sit on both sides). LightGBM's figure
# is the chosen candidate's mean fold AUC, the scorecard's that of its WoE recipe refitted per fold; the
# OOT window is never used to choose.
CV_FOLDS = 4


def choose_best(results: dict[str, dict], metric: str) -> str:
    """The model type with the best ``metric`` (ties: the first declared); never a configured favourite."""
    scored = [(t, r.get(metric)) for t, r in results.items() if r.get(metric) is not None and np.isfinite(r.get(metric))]
    if not scored:
        raise ModelDataError(f"no model has a finite {metric}; cannot choose a champion candidate")
    return max(scored, key=lambda tv: tv[1])[0]


def train_label(layout: LakeLayout, label: str, log=print) -> dict:
    """Train every declared model type of one label, register them, and make the best by validation the
    champion candidate (promoted at once with ``promotion: auto``, else waiting for an approval)."""
    from models.train import train_model

    specs = model_specs()
    defaults, spec = specs["defaults"], specs["labels"][label]
    obs = training_observations(layout, spec, defaults)
    n_bads = int(obs["target"].sum())
    if obs["target"].nunique() < 2 or n_bads < 20:
        raise ModelDataError(f"{label}: only {len(obs)} labelled observations with {n_bads} bads; "
                             "too few to train (is the world large / long enough?)")
    frame = load_features(layout, obs)
    oracle = oracle_probability(layout, obs, label)
    if oracle is not None:
        frame = pd.concat([frame, pd.DataFrame({"oracle_pd": oracle.to_numpy()}, index=frame.index)], axis=1)
    log(f"{label}: {len(frame):,} labelled observations x {frame.shape[1]:,} columns, bad rate {obs['target'].mean():.3f}")
    reg = lake_registry(layout)
    metric = spec.get("champion_metric", defaults["champion_metric"])
    summary: dict = {}
    for model_type in spec.get("model_types", defaults["model_types"]):
        select = lightgbm_selection(defaults, n_bads) if model_type == "lightgbm" else True
        result = train_model(
            frame, target="target", time_column="obs_month", model_type=model_type, label=label,
            split={"oot_fraction": float(defaults["oot_fraction"]), "gap_periods": int(spec.get("gap_months", 0))},
            oracle_column="oracle_pd" if oracle is not None else None,
            id_columns=("obs_id", "customer_id"), exclude=("obs_at", "first_loan_id"),
            feature_dictionary=feature_dictionary(), select=select, n_jobs=2, cv_folds=CV_FOLDS,
            group_column="customer_id",
        )
        folds = list(result.metrics.get("auc_cv_folds") or [])
        cv = {"cv_auc": result.metrics.get("auc_cv"), "cv_auc_folds": folds, "cv_folds": len(folds),
              "sample_max_rows": int(spec.get("max_rows", defaults["max_rows"]))}  # to re-draw the same rows
        version = reg.register(result, label=label, model_name=f"{label}_{model_type}", extra_metrics=cv)
        calibrate_registered(reg, label, version, frame, obs["target"])  # grade cut-offs from the strategy targets
        m = {**result.metrics, **cv}
        summary[model_type] = {"version": version, **{k: m.get(k) for k in (
            "cv_auc", "auc_valid", "auc_oot", "gini_oot", "ks_oot", "oracle_auc", "psi_score_train_oot", "n_train", "n_oot",
            "n_features")}, "train_seconds": round(result.timings.get("total", sum(result.timings.values())), 1)}
        log(f"{label} {model_type} {version}: in-time CV AUC {m.get('cv_auc') or float('nan'):.3f}, valid {m.get('auc_valid'):.3f}, OOT {m.get('auc_oot'):.3f} "
            f"(true oracle {m.get('oracle_auc') or float('nan'):.3f}), KS {m.get('ks_oot'):.3f}, {m.get('n_features')} features")
    best = choose_best(summary, metric)
    summary["best"] = best
    summary["promotion"] = promote_candidate(reg, label, summary[best]["version"], metric,
                                             margin=float(spec.get("promotion_margin", defaults["promotion_margin"])),
                                             mode=spec.get("promotion", defaults.get("promotion", "auto")))
    summary["champion"] = reg.champion(label)
    log(f"{label}: best by {metric} is {best} {summary[best]['version']}; {summary['promotion']['reason']}")
    return summary


TRAINING_WORKERS_ENV = "MODEL_TRAINING_WORKERS"


def training_workers(n_labels: int, workers: int | None = None) -> int:
    """How many labels train at once: ``workers``, else MODEL_TRAINING_WORKERS, else one per core."""
    import os

    if workers is None:
        raw = os.environ.get(TRAINING_WORKERS_ENV, "").strip()
        try:
            workers = int(raw) if raw else (os.cpu_count() or 1)
        except ValueError:
            raise ModelDataError(f"{TRAINING_WORKERS_ENV}={raw!r} is not a number of processes (e.g. 2; 1 trains "
                                 "one label at a time in this process)") from None
    return max(1, min(int(workers), n_labels))


def largest_first(layout: LakeLayout, labels: list[str]) -> list[str]:
    """The labels ordered by their training sample's size, largest first (ties: as given). Workers take the
    next label when they finish one, so the longest is started first and the short ones fill in after it
    (given in declaration order, the demo's B-card, 40,000 rows, started after the A-card and its worker
    finished 18 s after the other)."""
    import duckdb

    specs = model_specs()
    con = storage.connect(layout.root)
    try:
        caps = {label: int(specs["labels"][label].get("max_rows", specs["defaults"]["max_rows"])) for label in labels}
        counts = con.execute("SELECT " + ", ".join(f"count({specs['labels'][label]['target']})" for label in labels)
                             + f" FROM read_parquet({storage.sql_string(layout.labels)})").fetchall()[0]
    except (KeyError, duckdb.Error):
        return list(labels)  # an unknown label or no labels table: each label's training reports it
    finally:
        con.close()
    size = {label: min(int(n), caps[label]) for label, n in zip(labels, counts)}
    return sorted(labels, key=lambda label: -size[label])


def _train_label_in_worker(root: str, label: str) -> tuple[dict, list[str]]:
    """A worker process's task: one label trained on the lake at ``root``; its log lines travel back with it."""
    lines: list[str] = []
    summary = train_label(LakeLayout(root=root), label, log=lines.append)
    return summary, lines


def train_labels(layout: LakeLayout, labels: list[str], log=print, workers: int | None = None) -> dict[str, dict | Exception]:
    """Train several labels, side by side in worker processes (one per core, :func:`training_workers`).

    Each label is independent (its own observations, features and registry folder), and most of a label's
    training is single-threaded Python (selection, optbinning) or one-thread LightGBM, so on 2 cores two labels
    at once take about half the time of one after the other. ``workers=1`` trains in this process. Returns
    ``{label: summary}``, or the exception for a label that failed (the others still train)."""
    n = training_workers(len(labels), workers)
    results: dict[str, dict | Exception] = {}
    if n == 1:
        for label in labels:
            try:
                results[label] = train_label(layout, label, log=log)
            except Exception as exc:  # noqa: BLE001 - reported per label by the caller
                results[label] = exc
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: a clean interpreter per worker (a forked copy of a process that already ran OpenMP or DuckDB
    # threads can hang); each pays the library imports once (~10 s) and then trains several labels
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
        order = largest_first(layout, labels)
        log(f"training {', '.join(order)} in {n} worker processes, largest sample first")
        futures = {pool.submit(_train_label_in_worker, str(layout.root), label): label for label in order}
        for future in as_completed(futures):
            label = futures[future]
            try:
                summary, lines = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker's error comes back pickled
                results[label] = exc
                log(f"{label}: training failed: {exc}")
                continue
            for line in lines:
                log(line)
            results[label] = summary
    return {label: results[label] for label in labels}


def promote_candidate(reg, label: str, version: str, metric: str, margin: float, mode: str) -> dict:
    """``auto``: promote if it beats the champion by ``margin`` on ``metric``. ``manual``: record it as a
    candidate; ``python -m models.registry approve`` makes it champion."""
    if mode not in ("auto", "manual"):
        raise ModelDataError(f"models/specs/model_specs.yaml: promotion must be 'auto' or 'manual', got {mode!r}")
    if mode == "auto":
        return reg.promote_if_better(label, version, margin=margin, metric=metric)
    champ = reg.champion(label)
    value = reg.metrics(label, version).get(metric)
    champ_value = reg.metrics(label, champ).get(metric) if champ else None
    if (champ is not None and champ_value is not None and value is not None and value < champ_value + margin
            and reg.comparable(label, version, champ, metric)):
        return {"promoted": False, "champion": champ, "candidate": None,
                "reason": f"{metric} {value:.4f} < champion {champ_value:.4f} + {margin}: not proposed"}
    reg.propose(label, version, reason=f"best {metric} {value:.4f}" + (f" vs champion {champ_value:.4f}" if champ else ""),
                evidence={metric: value, "champion": champ, "champion_value": champ_value})
    return {"promoted": False, "champion": champ, "candidate": version,
            "reason": f"{version} proposed; waiting for: python -m models.registry approve {label} {version} --by NAME --why TEXT"}


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


def oracle_bound(layout: LakeLayout, label: str, version: str = "champion", n_boot: int = 400,
                 seed: int = 0) -> dict:
    """EVALUATION ONLY: does a registered model beat the true oracle on its own OOT rows?

    Re-scores the version's OOT window (the labelled observations from its ``oot_start``) and returns the
    model's and the oracle's AUC on exactly those rows, and a paired bootstrap of the difference
    (model - oracle): an honest oracle leaves the difference's confidence interval touching or below 0."""
    from models.metrics import auc

    reg = lake_registry(layout)
    model = reg.load(label, version)
    specs = model_specs()
    spec = dict(specs["labels"][label])
    if model.metrics.get("sample_max_rows"):  # the sample the version was trained on, not today's spec
        spec["max_rows"] = int(model.metrics["sample_max_rows"])
    obs = training_observations(layout, spec, specs["defaults"])
    oot_start = pd.to_datetime((model.metrics.get("split") or {}).get("oot_start"))
    obs = obs[pd.to_datetime(obs["obs_month"]) >= oot_start].reset_index(drop=True)
    oracle = oracle_probability(layout, obs, label)
    if oracle is None or oracle.isna().any():
        raise ModelDataError(f"{label}: the lake has no complete true oracle for its OOT rows")
    frame = load_features(layout, obs, columns=model.features)
    y = obs["target"].to_numpy(dtype=int)
    p_model = np.asarray(model.predict_proba(frame), dtype=float)
    p_oracle = oracle.to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            diffs.append(auc(y[i], p_model[i]) - auc(y[i], p_oracle[i]))
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    return {"label": label, "version": model.version, "model_type": model.model_type, "n_oot": len(y),
            "bads_oot": int(y.sum()), "auc_model": auc(y, p_model), "auc_oracle": auc(y, p_oracle),
            "diff_ci": (float(lo), float(hi))}
