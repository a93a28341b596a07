"""A model registry on the lake: ``<root>/<label>/<version>/`` folders, never overwritten.

Each version folder holds:

* the model: ``model.txt`` (LightGBM ``booster.save_model``) + ``gbm_meta.json``, or ``model.joblib``
  (the pickled scorecard) + ``scorecard_table.csv`` (points per bin);
* ``features.json`` (the feature list, in model order), ``feature_dictionary.json``
  ({feature: description} used for reason codes);
* ``metrics.json``: label, model_name, model_type, version, auc_oot, ks_oot, gini_oot, oracle_auc,
  training / OOT windows, row counts, bad rates, PSI of the score, data fingerprints (sha256 of the
  training frame's key columns and of its feature values), scaling, parameters, created_at;
* ``deciles.csv``, ``calibration.csv``, ``feature_importance.csv``, ``selection.csv`` (why each
  candidate was kept or dropped) and the plots ``roc.png``, ``ks.png``, ``deciles.png``,
  ``calibration.png``.

``<root>/<label>/champion.json`` names the champion; ``<root>/<label>/registry_log/`` is the append-only
audit trail (registrations, candidates, approvals, champion changes), one small JSON object per event named
``<time ns>-<random>.json``. One object per event, not a log file rewritten: S3 has no append, and a
read-modify-write of one log object would silently lose an event when two writers (a trainer registering, an
analyst approving) overlap; separate objects never collide and list in time order. (A legacy
``registry_log.jsonl`` from older lakes is still read, first.) A label whose spec says
``promotion: manual`` gets a new champion only through an approval that records who, when and why::

    python -m models.registry pending a_card
    python -m models.registry approve a_card v0007 --by "J. Analyst" --why "validation AUC +0.012, PSI stable"
 Versions are ``v0001``, ``v0002``, …:
a version is written completely into a temporary folder and then published as a new folder
(``lake.storage.upload_new_folder``): locally a rename that fails if the version exists; on S3 the number is
first claimed with a conditional PUT of ``<version>/_claim`` and ``metrics.json`` is uploaded last. So
concurrent trainers never overwrite each other (the loser takes the next number), a version counts only once
its ``metrics.json`` is there, and a crash leaves no half-written version. Version numbers are never reused.
"""
from __future__ import annotations

import json
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from lake import storage
from models.scorecard import DEFAULT_SCALING, ScoreScaling

VERSION_RE = re.compile(r"^v(\d{4,})$")
LABEL_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MODEL_FILES = {"lightgbm": "model.txt", "scorecard": "model.joblib"}
LOG_FOLDER, LEGACY_LOG = "registry_log", "registry_log.jsonl"
MANIFEST, CLAIM = "metrics.json", "_claim"  # a version is complete once its metrics.json is there
DEFAULT_PROMOTION_MARGIN = 0.005
CV_METRICS = ("cv_auc", "auc_cv", "auc_valid")  # figures whose value depends on how the CV folds were drawn


class RegistryError(RuntimeError):
    """A registry operation could not be done (unknown label/version, refused overwrite, ...)."""


def default_root() -> Path:
    """The lake's registry (``LakeLayout.registry`` of LAKE_ROOT), the one the pipeline and dashboards use."""
    from lake.layout import LakeLayout

    return LakeLayout.from_env().registry


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_json_atomic(path: Path, obj: Any) -> None:
    storage.write_text(path, json.dumps(obj, indent=2, default=str))


@dataclass
class RegisteredModel:
    """A model loaded from the registry, ready to score."""

    label: str
    version: str
    model_name: str
    model_type: str
    model: Any
    features: list[str]
    metrics: dict[str, Any]
    path: Path
    scaling: ScoreScaling = DEFAULT_SCALING
    feature_dictionary: dict[str, str] = field(default_factory=dict)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(frame)

    def reason_codes(self, frame: pd.DataFrame, k: int = 3) -> pd.DataFrame:
        return self.model.reason_codes(frame, k=k, descriptions=self.feature_dictionary)


class ModelRegistry:
    def __init__(self, root: str | Path | None = None):
        # a lake path object (pathlib.Path, or upath.UPath on an S3 lake) is kept as it is
        self.root = (root if hasattr(root, "fs") else storage.lake_path(root)) if root is not None else default_root()

    # -- paths --------------------------------------------------------------------------------
    def _label_dir(self, label: str) -> Path:
        if not isinstance(label, str) or not LABEL_RE.match(label):
            raise RegistryError(f"invalid label {label!r}: lower-case letters, digits and '_' (e.g. a_card)")
        return self.root / label

    def path(self, label: str, version: str = "champion") -> Path:
        return self._label_dir(label) / self.resolve(label, version)

    def labels(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and LABEL_RE.match(p.name))

    def list_versions(self, label: str) -> list[str]:
        """Registered versions of ``label``, oldest first."""
        d = self._label_dir(label)
        if not d.exists():
            return []
        # complete versions only: one listing (a version folder without metrics.json is being uploaded)
        found = {p.parent.name for p in d.glob(f"v*/{MANIFEST}") if VERSION_RE.match(p.parent.name)}
        return sorted(found, key=lambda v: int(VERSION_RE.match(v).group(1)))

    def log(self, label: str) -> list[dict]:
        """The label's audit trail, oldest first."""
        d = self._label_dir(label)
        events: list[dict] = []
        if (d / LEGACY_LOG).exists():
            events += [json.loads(line) for line in (d / LEGACY_LOG).read_text().splitlines() if line.strip()]
        files = sorted(d.glob(f"{LOG_FOLDER}/*.json"), key=lambda p: p.name) if d.exists() else []
        return events + [json.loads(p.read_text()) for p in files]

    _log = log

    def _append_log(self, label: str, event: dict) -> None:
        # one whole object per event (see the module docstring); the name sorts in time order
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        storage.write_text(self._label_dir(label) / LOG_FOLDER / name,
                           json.dumps({"at": _now(), **event}, default=str))

    def _next_number(self, label: str) -> int:
        d = self._label_dir(label)
        taken = [p.name for p in d.iterdir() if VERSION_RE.match(p.name)] if d.exists() else []
        nums = [int(VERSION_RE.match(v).group(1)) for v in taken]  # claimed numbers too, complete or not
        nums += [int(VERSION_RE.match(e["version"]).group(1)) for e in self._log(label)
                 if e.get("event") == "register" and VERSION_RE.match(str(e.get("version", "")))]
        return max(nums, default=0) + 1

    # -- write --------------------------------------------------------------------------------
    def register(self, result, label: str | None = None, model_name: str | None = None,
                 extra_metrics: Mapping[str, Any] | None = None, plots: bool = True) -> str:
        """Write a :class:`~models.train.TrainResult` as the next version of ``label``; returns the version."""
        label = label or result.label
        if not label:
            raise RegistryError("register needs a label (a_card, b_card, c_card, fraud, ...)")
        label_dir = self._label_dir(label)
        storage.makedirs(label_dir)
        model_type = result.model_type
        model_name = model_name or f"{label}_{model_type}"
        with storage.staging_folder(label_dir) as tmp:  # local files (LightGBM, joblib, matplotlib write local)
            model_files = result.model.save(tmp)
            (tmp / "features.json").write_text(json.dumps(list(result.features), indent=2))
            used_dict = {f: result.feature_dictionary[f] for f in result.features if f in result.feature_dictionary}
            (tmp / "feature_dictionary.json").write_text(json.dumps(used_dict, indent=2, ensure_ascii=False))
            result.deciles.to_csv(tmp / "deciles.csv", index=False)
            result.calibration.to_csv(tmp / "calibration.csv", index=False)
            if result.feature_importance is not None:
                result.feature_importance.to_csv(tmp / "feature_importance.csv", index=False)
            if result.selection is not None:
                result.selection.stats.to_csv(tmp / "selection.csv", index=False)
            plot_files = []
            if plots and result.oot_predictions is not None and len(result.oot_predictions):
                plot_files = [p.name for p in result.save_plots(tmp).values()]
            record = result.metrics_record()
            record.update({"label": label, "model_name": model_name, "model_type": model_type,
                           "model_files": [Path(p).name for p in model_files], "plots": plot_files,
                           "registered_at": _now(), **dict(extra_metrics or {})})
            for attempt in range(1000):
                number = self._next_number(label) + attempt
                version = f"v{number:04d}"
                record["version"] = version
                (tmp / MANIFEST).write_text(json.dumps(record, indent=2, default=str))
                if storage.upload_new_folder(tmp, label_dir / version, claim=CLAIM, last=MANIFEST):
                    break
            else:  # pragma: no cover
                raise RegistryError(f"could not allocate a version for {label}")
        if plot_files:
            result.plots = {name: label_dir / version / Path(path).name for name, path in result.plots.items()}
        self._append_log(label, {"event": "register", "version": version, "model_type": model_type,
                                 "auc_oot": record.get("auc_oot")})
        return version

    # -- read ---------------------------------------------------------------------------------
    def champion(self, label: str) -> str | None:
        f = self._label_dir(label) / "champion.json"
        if not f.exists():
            return None
        return json.loads(f.read_text())["version"]

    def resolve(self, label: str, version: str = "champion") -> str:
        """'champion' / 'latest' / 'vNNNN' → an existing version name."""
        versions = self.list_versions(label)
        if not versions:
            raise RegistryError(f"no versions registered for label '{label}' under {self.root}")
        if version == "champion":
            champ = self.champion(label)
            if champ is None:
                raise RegistryError(f"label '{label}' has no champion yet (versions: {versions}); "
                                    "use set_champion or promote_if_better")
            return champ
        if version == "latest":
            return versions[-1]
        if version not in versions:
            raise RegistryError(f"label '{label}' has no version '{version}' (versions: {versions})")
        return version

    def metrics(self, label: str, version: str = "champion") -> dict[str, Any]:
        return json.loads((self.path(label, version) / "metrics.json").read_text())

    def versions_table(self, label: str) -> pd.DataFrame:
        """One row per version: version, created_at, model_type, auc_oot, ks_oot, gini_oot, oracle_auc, champion."""
        champ = self.champion(label)
        rows = []
        for v in self.list_versions(label):
            m = json.loads((self._label_dir(label) / v / "metrics.json").read_text())
            rows.append({"version": v, "created_at": m.get("created_at"), "model_type": m.get("model_type"),
                         "model_name": m.get("model_name"), "auc_oot": m.get("auc_oot"), "ks_oot": m.get("ks_oot"),
                         "gini_oot": m.get("gini_oot"), "oracle_auc": m.get("oracle_auc"),
                         "n_features": m.get("n_features"), "champion": v == champ})
        return pd.DataFrame(rows)

    def load(self, label: str, version: str = "champion") -> RegisteredModel:
        version = self.resolve(label, version)
        folder = self._label_dir(label) / version
        m = json.loads((folder / "metrics.json").read_text())
        model_type = m["model_type"]
        if model_type not in MODEL_FILES:
            raise RegistryError(f"{folder}/metrics.json: unknown model_type '{model_type}'")
        model = _load_model(model_type, folder)
        features = json.loads((folder / "features.json").read_text())
        fd_file = folder / "feature_dictionary.json"
        return RegisteredModel(label=label, version=version, model_name=m.get("model_name", f"{label}_{model_type}"),
                               model_type=model_type, model=model, features=features, metrics=m, path=folder,
                               scaling=ScoreScaling.from_dict(m.get("scaling")),
                               feature_dictionary=json.loads(fd_file.read_text()) if fd_file.exists() else {})

    # -- champion -----------------------------------------------------------------------------
    def set_champion(self, label: str, version: str, reason: str = "manual",
                     approval: Mapping[str, Any] | None = None) -> dict[str, Any]:
        version = self.resolve(label, version) if version != "champion" else self.resolve(label)
        previous = self.champion(label)
        m = self.metrics(label, version)
        record = {"label": label, "version": version, "model_name": m.get("model_name"),
                  "model_type": m.get("model_type"), "auc_oot": m.get("auc_oot"), "auc_valid": m.get("auc_valid"),
                  "previous": previous, "reason": reason, "set_at": _now(), **({"approval": dict(approval)} if approval else {})}
        _write_json_atomic(self._label_dir(label) / "champion.json", record)
        self._append_log(label, {"event": "champion", "version": version, "previous": previous, "reason": reason,
                                 **({"approval": dict(approval)} if approval else {})})
        return record

    def champion_record(self, label: str) -> dict[str, Any] | None:
        f = self._label_dir(label) / "champion.json"
        return json.loads(f.read_text()) if f.exists() else None

    # -- approval -----------------------------------------------------------------------------
    def propose(self, label: str, version: str, reason: str, evidence: Mapping[str, Any] | None = None) -> dict:
        """Record ``version`` as the candidate for champion (waiting for :meth:`approve`)."""
        version = self.resolve(label, version)
        event = {"event": "candidate", "version": version, "reason": reason, **({"evidence": dict(evidence)} if evidence else {})}
        self._append_log(label, event)
        return event

    def pending(self, label: str) -> list[dict]:
        """Candidates proposed and not yet approved, newest first (a later approval of any version settles
        the candidates proposed before it)."""
        out: list[dict] = []
        for e in self._log(label):
            if e.get("event") == "candidate":
                out.append(e)
            elif e.get("event") == "champion" and e.get("approval"):
                out = []
        return out[::-1]

    def approve(self, label: str, version: str, by: str, why: str) -> dict[str, Any]:
        """Make ``version`` champion with an approval that records who, when and why."""
        by, why = (by or "").strip(), (why or "").strip()
        if not by or not why:
            raise RegistryError("an approval needs --by NAME and --why TEXT (who approves, and why)")
        version = self.resolve(label, version)
        approval = {"by": by, "why": why, "at": _now(),
                    "candidate": any(e["version"] == version for e in self.pending(label))}
        return self.set_champion(label, version, reason=f"approved by {by}: {why}", approval=approval)

    def comparable(self, label: str, a: str, b: str, metric: str) -> bool:
        """Whether two versions' ``metric`` were measured the same way: a cross-validated figure on folds that
        split customers (rows of one customer on both sides, the older versions) reads higher than one on folds
        that keep each customer whole, so the two are not compared."""
        if metric not in CV_METRICS:
            return True
        return self.metrics(label, a).get("cv_group_column") == self.metrics(label, b).get("cv_group_column")

    def promote_if_better(self, label: str, version: str, margin: float = DEFAULT_PROMOTION_MARGIN,
                          metric: str = "auc_oot") -> dict[str, Any]:
        """Promote ``version`` if there is no champion, or if its ``metric`` beats the champion's by ≥ ``margin``.

        Note: each version's OOT metric comes from its own OOT window; compare versions trained on
        the same windows (or re-evaluate both on a common sample) before trusting small margins.
        """
        version = self.resolve(label, version)
        champ = self.champion(label)
        challenger_value = self.metrics(label, version).get(metric)
        decision = {"label": label, "challenger": version, "champion_before": champ, "metric": metric,
                    "margin": margin, "challenger_value": challenger_value, "champion_value": None}
        if challenger_value is None or not np.isfinite(challenger_value):
            return {**decision, "promoted": False, "champion": champ, "reason": f"challenger has no {metric}"}
        if champ is None:
            self.set_champion(label, version, reason="first champion")
            return {**decision, "promoted": True, "champion": version, "reason": "no champion yet"}
        if champ == version:
            return {**decision, "promoted": False, "champion": champ, "reason": "already champion"}
        champion_value = self.metrics(label, champ).get(metric)
        decision["champion_value"] = champion_value
        if not self.comparable(label, version, champ, metric):
            why = (f"the champion's {metric} was cross-validated on other folds "
                   f"(grouped by {self.metrics(label, champ).get('cv_group_column') or 'row'}): not comparable")
            self.set_champion(label, version, reason=f"promoted: {why}")
            return {**decision, "promoted": True, "champion": version, "reason": why}
        if champion_value is None or challenger_value >= champion_value + margin:
            why = (f"{metric} {challenger_value:.4f} >= champion {champion_value:.4f} + {margin}"
                   if champion_value is not None else f"champion has no {metric}")
            self.set_champion(label, version, reason=f"promoted: {why}")
            return {**decision, "promoted": True, "champion": version, "reason": why}
        return {**decision, "promoted": False, "champion": champ,
                "reason": f"{metric} {challenger_value:.4f} < champion {champion_value:.4f} + {margin}"}


def _load_model(model_type: str, folder) -> Any:
    """The model object of a version folder (LightGBM and joblib read local files: an S3 version is copied to a
    temporary folder first; the model is in memory once loaded)."""
    if model_type == "lightgbm":
        from models.gbm import GBMModel as loader
    else:
        from models.scorecard import ScorecardModel as loader
    if not storage.is_remote(folder):
        return loader.load(folder)
    with tempfile.TemporaryDirectory(prefix="registry-") as local:
        return loader.load(storage.download_folder(folder, local))


def main(argv: list[str] | None = None) -> int:
    """``python -m models.registry {list,pending,approve}``: the registry from the command line."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m models.registry", description="Model registry on the lake (LAKE_ROOT)")
    ap.add_argument("--root", default=None, help="registry folder (default: the lake's, from LAKE_ROOT)")
    sub = ap.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="versions of a label (or of every label)")
    ls.add_argument("label", nargs="?")
    pe = sub.add_parser("pending", help="candidates waiting for approval")
    pe.add_argument("label")
    apv = sub.add_parser("approve", help="make a version champion, recording who and why")
    apv.add_argument("label")
    apv.add_argument("version")
    apv.add_argument("--by", required=True, help="who approves (name)")
    apv.add_argument("--why", required=True, help="why this version should be champion")
    args = ap.parse_args(argv)
    reg = ModelRegistry(args.root)
    try:
        if args.command == "list":
            for label in [args.label] if args.label else reg.labels():
                print(f"{label}:")
                print(reg.versions_table(label).to_string(index=False))
        elif args.command == "pending":
            rows = reg.pending(args.label)
            print(json.dumps(rows, indent=1, default=str) if rows else f"{args.label}: no candidate waiting for approval")
        else:
            record = reg.approve(args.label, args.version, by=args.by, why=args.why)
            print(f"{args.label}: champion is now {record['version']} (was {record['previous']}); "
                  f"approved by {record['approval']['by']} at {record['approval']['at']}")
    except RegistryError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
