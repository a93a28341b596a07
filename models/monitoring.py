"""Monitoring that fills in: score past month-ends with a model version, compare with what happened, and
write the model card.

``backfill(layout, label)`` scores a deterministic sample of every observation month of the label's
population (the feature-mart spine up to its last month) with the champion (or any version) and writes,
under ``LakeLayout.model_monitoring_dir(label, version)``:

* ``backfill.parquet``: obs_id, customer_id, obs_month, window (train / oot / after), target (null until
  matured), probability, score, grade;
* ``grades.parquet``: per grade, expected (mean probability) vs realised bad rate on matured rows;
* ``vintages.parquet``: per observation month, rows, matured rows, realised and expected bad rate, AUC,
  KS and the score PSI against the training window;
* ``csi.parquet``: per observation month and feature (the model's most important), the characteristic
  stability index against the training window.

``model_card(...)`` writes ``model_card.md`` into the registry's version folder from metrics.json and
those tables: purpose, population, windows, features, performance, stability, limitations.

    python -m models.monitoring                 # every label with a champion, on LAKE_ROOT
    python -m models.monitoring a_card --version v0003
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lake import storage
from lake.layout import LakeLayout
from models import metrics as M
from models.lake_inputs import ModelDataError, lake_registry, load_features, model_specs
from models.scorecard import probability_to_points

ROWS_PER_MONTH = 2000   # deterministic sample per observation month: bounds the cost on big books
CSI_FEATURES = 15       # the model's most important features get a CSI per month
MIN_CLASS_ROWS = 5      # AUC / KS of a month need at least this many bads and goods


def _grades(label: str, score: np.ndarray, model=None) -> np.ndarray:
    from models.grading import version_cutoffs
    from models.strategy import load_strategy

    # grades are strategy targets calibrated per model version (grades.json): use the version's cut-offs
    return np.asarray(load_strategy().assign_grade(label, score, version_cutoffs(model)))


def backfill_observations(layout: LakeLayout, label: str, rows_per_month: int = ROWS_PER_MONTH) -> pd.DataFrame:
    """The label's population at every observation month (sampled by hash of obs_id), with its target."""
    spec = model_specs()["labels"][label]
    spine, labels = layout.feature_spine.as_posix(), layout.labels.as_posix()
    return storage.connect(layout.root).sql(f"""
        SELECT s.obs_id, s.customer_id, s.obs_at, s.obs_month, l.{spec['target']}::INTEGER AS target
        FROM read_parquet('{spine}') s LEFT JOIN read_parquet('{labels}') l USING (obs_id)
        WHERE s.{spec['population']}
        QUALIFY row_number() OVER (PARTITION BY s.obs_month ORDER BY hash(s.obs_id), s.obs_id) <= {int(rows_per_month)}
        ORDER BY s.obs_month, s.obs_id
    """).df()


def _window(months: pd.Series, split: dict) -> np.ndarray:
    t = pd.to_datetime(months)
    train_end = pd.to_datetime(split.get("train_end")) if split.get("train_end") else None
    oot_end = pd.to_datetime(split.get("oot_end")) if split.get("oot_end") else None
    if train_end is None:
        return np.full(len(t), "unknown")
    return np.where(t <= train_end, "train", np.where((oot_end is None) | (t <= oot_end), "oot", "after"))


def vintage_table(scored: pd.DataFrame, baseline: np.ndarray) -> pd.DataFrame:
    rows = []
    for month, g in scored.groupby("obs_month", sort=True):
        matured = g[g["target"].notna()]
        y = matured["target"].to_numpy(dtype=int)
        p = matured["probability"].to_numpy(dtype=float)
        ok = y.sum() >= MIN_CLASS_ROWS and (len(y) - y.sum()) >= MIN_CLASS_ROWS
        rows.append({"obs_month": month, "window": g["window"].iloc[0], "rows": len(g), "matured": len(matured),
                     "bad_rate": float(y.mean()) if len(y) else None,
                     "expected_bad_rate": float(g["probability"].mean()),  # every row; realised needs maturity
                     "auc": M.auc(y, p) if ok else None, "ks": M.ks(y, p) if ok else None,
                     "score_psi": M.psi_numeric(baseline, g["score"].to_numpy(dtype=float)) if len(baseline) else None})
    return pd.DataFrame(rows)


def grade_table(scored: pd.DataFrame) -> pd.DataFrame:
    matured = scored[scored["target"].notna()]
    out = (matured.groupby("grade", sort=True)
           .agg(rows=("target", "size"), bads=("target", "sum"), realised_bad_rate=("target", "mean"),
                expected_bad_rate=("probability", "mean"), mean_score=("score", "mean"))
           .reset_index())
    out["bads"] = out["bads"].astype(int)
    return out


def csi_table(frame: pd.DataFrame, scored: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    base = scored["window"].to_numpy() == "train"
    rows = []
    for f in features:
        values = pd.to_numeric(frame[f], errors="coerce").to_numpy(dtype=float)
        expected = values[base]
        if len(expected) == 0:
            continue
        for month in sorted(scored["obs_month"].unique()):
            sel = scored["obs_month"].to_numpy() == month
            rows.append({"feature": f, "obs_month": month, "csi": M.psi_numeric(expected, values[sel])})
    return pd.DataFrame(rows, columns=["feature", "obs_month", "csi"])


def top_features(folder: Path, features: list[str], k: int = CSI_FEATURES) -> list[str]:
    imp = folder / "feature_importance.csv"
    if imp.exists():
        with imp.open("rb") as fh:
            table = pd.read_csv(fh)
        value = next((c for c in ("gain", "importance", "abs_coefficient", "iv") if c in table.columns), table.columns[-1])
        name = "feature" if "feature" in table.columns else table.columns[0]
        ranked = [f for f in table.sort_values([value, name], ascending=[False, True])[name] if f in features]
        return ranked[:k]
    return sorted(features)[:k]


def backfill(layout: LakeLayout, label: str, version: str = "champion", rows_per_month: int = ROWS_PER_MONTH,
             log=print) -> dict:
    """Score the label's past observation months with a version; write the backfill and monitoring tables."""
    reg = lake_registry(layout)
    model = reg.load(label, version)
    obs = backfill_observations(layout, label, rows_per_month)
    if obs.empty:
        raise ModelDataError(f"{label}: no observations of its population in {layout.feature_spine}")
    frame = load_features(layout, obs, columns=model.features)
    missing = [f for f in model.features if f not in frame.columns]
    if missing:
        raise ModelDataError(f"{label} {model.version}: the feature mart lacks {len(missing)} model feature(s), "
                             f"e.g. {missing[:3]}; rebuild the features or retrain")
    prob = np.asarray(model.predict_proba(frame), dtype=float)
    score = np.clip(np.rint(probability_to_points(prob, model.scaling)), 0, 1000).astype(int)
    scored = obs[["obs_id", "customer_id", "obs_month", "target"]].copy()
    scored["window"] = _window(scored["obs_month"], model.metrics.get("split") or {})
    scored["probability"], scored["score"], scored["grade"] = prob, score, _grades(label, score, model)
    baseline = scored.loc[scored["window"] == "train", "score"].to_numpy(dtype=float)
    tables = {"backfill": scored, "grades": grade_table(scored), "vintages": vintage_table(scored, baseline),
              "csi": csi_table(frame, scored, top_features(model.path, model.features))}
    out = layout.model_monitoring_dir(label, model.version)
    for name, table in tables.items():
        storage.write_frame(table, out / f"{name}.parquet")
    card = model_card(layout, label, model.version)
    log(f"{label} {model.version}: backfilled {len(scored):,} observations over {scored['obs_month'].nunique()} months; "
        f"model card {card}")
    return {"label": label, "version": model.version, "rows": len(scored), "months": int(scored["obs_month"].nunique()),
            "folder": str(out), "model_card": str(card)}


def monitoring_tables(layout: LakeLayout, label: str, version: str) -> dict[str, pd.DataFrame]:
    """The monitoring tables written by :func:`backfill` (empty dict when the version was not backfilled)."""
    folder = layout.model_monitoring_dir(label, version)
    return {p.stem: storage.read_frame(p) for p in sorted(folder.glob("*.parquet"), key=str) if p.stem != "backfill"}


def _fmt(v, spec=".3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


def _validation_text(m: dict, split: dict) -> str:
    """How the in-time window validated the model, as the model card says it."""
    validation = str(m.get("validation") or "")
    if validation.startswith("cv"):
        grouped = f", each `{m['cv_group_column']}`'s observations in one fold" if m.get("cv_group_column") else ""
        return f"{validation[2:]}-fold cross-validation on it, stratified by the label{grouped}"
    return f"a stratified {_fmt(split.get('valid_fraction'), '.0%')} of it"


def model_card(layout: LakeLayout, label: str, version: str) -> Path:
    """Write ``model_card.md`` into the version's registry folder, from its metrics and monitoring tables."""
    reg = lake_registry(layout)
    folder = reg.path(label, version)
    m = reg.metrics(label, version)
    spec = model_specs()["labels"].get(label, {})
    split = m.get("split") or {}
    features = json.loads((folder / "features.json").read_text())
    descriptions = json.loads((folder / "feature_dictionary.json").read_text()) if (folder / "feature_dictionary.json").exists() else {}
    tables = monitoring_tables(layout, label, m["version"])
    champion = reg.champion(label)
    lines = [f"# Model card: {m.get('model_name')} {m['version']}", "",
             f"Status: {'champion' if champion == m['version'] else 'registered (not champion)'}; "
             f"registered {m.get('registered_at', m.get('created_at'))}.", "",
             "## Purpose", "", spec.get("description", f"Risk model for {label}."), "",
             "## Population", "",
             f"Observations where `{spec.get('population', '?')}` holds on the feature-mart spine, labelled by "
             f"`{spec.get('target', m.get('target'))}` (labels mart). Training sample: {m.get('n_train')} rows "
             f"(bad rate {_fmt(m.get('bad_rate_train'))}), validation {m.get('n_valid')}, out-of-time {m.get('n_oot')} "
             f"(bad rate {_fmt(m.get('bad_rate_oot'))}).", "",
             "## Windows", "",
             f"In-time {split.get('train_start', '?')} to {split.get('train_end', '?')} (validation: "
             f"{_validation_text(m, split)}); out-of-time {split.get('oot_start', '?')} to "
             f"{split.get('oot_end', '?')}.", "",
             "## Features", "",
             f"{len(features)} features (of {m.get('n_candidates')} candidates after pre-selection), model type "
             f"{m.get('model_type')}. Most important:", ""]
    for f in top_features(folder, features, 10):
        lines.append(f"* `{f}`: {descriptions.get(f, '')}")
    gap = m.get("auc_gap_to_oracle")
    lines += ["", "## Performance", "",
              "| sample | AUC | KS |", "|---|---:|---:|",
              f"| train | {_fmt(m.get('auc_train'))} | {_fmt(m.get('ks_train'))} |",
              f"| validation | {_fmt(m.get('auc_valid'))} | {_fmt(m.get('ks_valid'))} |",
              f"| out-of-time | {_fmt(m.get('auc_oot'))} | {_fmt(m.get('ks_oot'))} |",
              f"| true oracle (OOT, simulator truth) | {_fmt(m.get('oracle_auc'))} | |", ""]
    vint = tables.get("vintages")
    lines += ["## Stability", "", f"Score PSI train to OOT: {_fmt(m.get('psi_score_train_oot'))} ({m.get('psi_score_status', 'n/a')})."]
    if vint is not None and len(vint):
        lines.append(f"Backfilled months: {len(vint)}; largest monthly score PSI against the training window: "
                     f"{_fmt(vint['score_psi'].max())}; monthly AUC from {_fmt(vint['auc'].min())} to {_fmt(vint['auc'].max())}.")
    csi = tables.get("csi")
    if csi is not None and len(csi):
        worst = csi.sort_values(["csi", "feature"], ascending=[False, True]).iloc[0]
        lines.append(f"Largest feature CSI: `{worst['feature']}` {_fmt(worst['csi'])} in {pd.Timestamp(worst['obs_month']).date()}.")
    grades = tables.get("grades")
    if grades is not None and len(grades):
        lines += ["", "| grade | rows | expected bad rate | realised bad rate |", "|---|---:|---:|---:|"]
        for _, g in grades.iterrows():
            lines.append(f"| {g['grade']} | {int(g['rows'])} | {_fmt(g['expected_bad_rate'])} | {_fmt(g['realised_bad_rate'])} |")
    bads = round((m.get("bad_rate_train") or 0) * (m.get("n_train") or 0))
    lines += ["", "## Limitations", "",
              f"* Trained on {bads} bads; out-of-time AUC has a sampling error of roughly "
              f"±{_fmt(1.96 * 0.5 / np.sqrt(max(1, (m.get('bad_rate_oot') or 0) * (m.get('n_oot') or 0))), '.3f')} "
              "at this size.",
              f"* Distance to the true oracle on OOT: {_fmt(gap)} AUC (the oracle is the simulator's Bayes probability, "
              "an upper bound no model can beat beyond sampling noise).",
              "* Trained on accepted applicants / booked accounts only; the through-the-door population differs.",
              "* Synthetic world: relationships hold for the simulator's hazards, not necessarily for a real book.",
              f"* Outcome windows: the latest {spec.get('target', 'label')} rows mature only after their window closes; "
              "backfilled months without matured rows show expected bad rates only."]
    path = folder / "model_card.md"
    storage.write_text(path, "\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m models.monitoring", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labels", nargs="*", help="labels to backfill (default: every label with a champion)")
    ap.add_argument("--version", default="champion")
    ap.add_argument("--rows-per-month", type=int, default=ROWS_PER_MONTH)
    args = ap.parse_args(argv)
    layout = LakeLayout.from_env()
    reg = lake_registry(layout)
    labels = args.labels or [lb for lb in reg.labels() if reg.champion(lb)]
    try:
        for label in labels:
            backfill(layout, label, args.version, args.rows_per_month)
    except (ModelDataError, Exception) as err:  # noqa: BLE001 - one clear line for the user
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
