"""Grades calibrated from declared targets, stored with the model version they belong to.

The strategy declares what each grade should be (``grades.<label>`` in the strategy YAML), e.g.
``{target: population_share, A: 0.15, B: 0.25, C: 0.30, D: 0.20, E: 0.10}``: the share of the label's
scored population per grade. When a model version is trained, :func:`calibrate_version` turns the targets
into score cut-offs on that version's scores of its labelled population and writes them to
``<version folder>/grades.json`` with the realised share and bad rate per grade. Scoring reads the
version's cut-offs (:func:`version_cutoffs`), so a retrained model keeps the grade meaning the strategy asks
for instead of inheriting guessed cut-offs.

CLI for a version registered without grades (e.g. by a notebook)::

    python -m models.grading --label a_card --version v0003
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from lake import storage

GRADES = ("A", "B", "C", "D", "E")
GRADES_FILE = "grades.json"
TARGET_METHODS = ("population_share",)


class GradingError(ValueError):
    """Grade targets or a version's cut-offs are missing or wrong; the message says which and how to fix it."""


def check_targets(targets: Mapping, where: str) -> dict[str, float]:
    """Validate a ``population_share`` target: one positive share per grade, summing to 1."""
    method = targets.get("target")
    if method not in TARGET_METHODS:
        raise GradingError(f"{where}: target must be one of {list(TARGET_METHODS)}, got {method!r}")
    shares = {g: targets.get(g) for g in GRADES}
    if any(not isinstance(v, (int, float)) or v <= 0 for v in shares.values()):
        raise GradingError(f"{where}: needs a positive share for each grade {list(GRADES)}, got {shares}")
    total = float(sum(shares.values()))
    if abs(total - 1.0) > 1e-6:
        raise GradingError(f"{where}: grade shares must add up to 1, they add up to {total:.4f}")
    return {g: float(v) for g, v in shares.items()}


def cutoffs_for_shares(scores, shares: Mapping[str, float]) -> dict[str, float]:
    """Minimum score per grade A..D so that the best ``shares['A']`` of scores get A, the next B, ...

    Higher score = lower risk. Cut-offs are score quantiles; ties at a cut-off go to the better grade.
    """
    s = np.asarray(scores, dtype=float)
    s = s[np.isfinite(s)]
    if len(s) == 0:
        raise GradingError("cannot calibrate grades on an empty population")
    cum = np.cumsum([shares[g] for g in GRADES[:-1]])
    mins = np.quantile(s, 1.0 - cum, method="higher")
    # strictly decreasing cut-offs (integer scores can tie): nudge down by one point where needed
    out, prev = {}, np.inf
    for g, m in zip(GRADES[:-1], mins):
        m = float(min(m, prev - 1))
        out[g] = m
        prev = m
    return out


def grade_table(scores, cutoffs: Mapping[str, float], target=None) -> pd.DataFrame:
    """Rows, share and (when a target is given) bad rate per grade."""
    from models.strategy import assign_grade

    g = pd.Series(assign_grade(scores, cutoffs), dtype="string")
    frame = pd.DataFrame({"grade": g})
    if target is not None:
        frame["bad"] = np.asarray(target, dtype=float)
    agg = frame.groupby("grade").agg(rows=("grade", "size"), **({"bad_rate": ("bad", "mean")} if target is not None else {}))
    agg = agg.reindex(list(GRADES)).fillna({"rows": 0})
    agg["share"] = agg["rows"] / max(len(frame), 1)
    return agg.reset_index()


def calibrate_version(version_dir: Path, label: str, scores, target=None, strategy=None) -> dict:
    """Turn the strategy's grade targets for ``label`` into cut-offs on ``scores`` and write grades.json."""
    from models.strategy import load_strategy

    strategy = strategy or load_strategy()
    targets = strategy.grade_targets(label)
    if targets is None:
        raise GradingError(f"{strategy.source}: grades.{label} holds fixed cut-offs, not targets; nothing to calibrate")
    cutoffs = cutoffs_for_shares(scores, check_targets(targets, f"{strategy.source}: grades.{label}"))
    table = grade_table(scores, cutoffs, target)
    record = {
        "label": label,
        "targets": dict(targets),
        "cutoffs": cutoffs,
        "strategy_version": strategy.version,
        "calibrated_on": {
            "rows": int(len(np.asarray(scores))),
            "share": dict(zip(table["grade"], table["share"].round(4))),
            **({"bad_rate": dict(zip(table["grade"], table["bad_rate"].round(4).where(table["rows"] > 0, None)))}
               if target is not None else {}),
        },
    }
    folder = version_dir if hasattr(version_dir, "fs") else Path(version_dir)  # a lake path (local or S3) as it is
    storage.write_text(folder / GRADES_FILE, json.dumps(record, indent=2, default=float))
    return record


def calibrate_registered(registry, label: str, version: str, frame: pd.DataFrame, target=None, strategy=None) -> dict:
    """Score ``frame`` with a registered version and calibrate its grades (called right after training)."""
    from models.scorecard import probability_to_points

    model = registry.load(label, version)
    points = probability_to_points(np.asarray(model.predict_proba(frame), dtype=float), model.scaling)
    return calibrate_version(model.path, label, np.rint(points), target, strategy)


def version_cutoffs(model) -> dict[str, float] | None:
    """The cut-offs stored with a registered model version (None when it has no grades.json)."""
    path = getattr(model, "path", None)
    if path is None:
        return None
    grades = (path if hasattr(path, "fs") else Path(path)) / GRADES_FILE
    if not grades.exists():
        return None
    return {g: float(v) for g, v in json.loads(grades.read_text())["cutoffs"].items()}


def main(argv=None) -> None:  # pragma: no cover - thin CLI
    from lake.layout import LakeLayout
    from models.lake_inputs import lake_registry, load_features, model_specs
    from models.lake_training import training_observations

    ap = argparse.ArgumentParser(description="Calibrate a registered model version's grades from the strategy targets")
    ap.add_argument("--label", required=True)
    ap.add_argument("--version", default="champion")
    args = ap.parse_args(argv)
    layout = LakeLayout.from_env()
    specs = model_specs()
    obs = training_observations(layout, specs["labels"][args.label], specs["defaults"])
    frame = load_features(layout, obs)
    reg = lake_registry(layout)
    rec = calibrate_registered(reg, args.label, reg.resolve(args.label, args.version), frame, obs["target"])
    print(json.dumps(rec, indent=1, default=float))


if __name__ == "__main__":  # pragma: no cover
    main()
