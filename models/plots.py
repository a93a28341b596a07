"""Model evaluation plots as PNG files (matplotlib, Agg backend): ROC, KS, decile bad rate, calibration."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PLOT_NAMES = ("roc", "ks", "deciles", "calibration")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_evaluation_plots(y_true, y_prob, folder: str | Path, title: str = "", oracle_prob=None,
                          deciles: pd.DataFrame | None = None, dpi: int = 100) -> dict[str, Path]:
    """Write roc.png, ks.png, deciles.png, calibration.png into ``folder``; returns {name: path}."""
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import RocCurveDisplay

    from models.metrics import decile_table, ks_curve

    plt = _plt()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    y = np.asarray(y_true).astype(int)
    p = np.asarray(y_prob, dtype=float)
    suffix = f" — {title}" if title else ""
    paths: dict[str, Path] = {}

    fig, ax = plt.subplots(figsize=(5.5, 5))
    RocCurveDisplay.from_predictions(y, p, ax=ax, name="model")
    if oracle_prob is not None:
        RocCurveDisplay.from_predictions(y, np.asarray(oracle_prob, dtype=float), ax=ax, name="oracle",
                                         curve_kwargs={"linestyle": "--"})
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
    ax.set_title(f"ROC{suffix}")
    paths["roc"] = _save(fig, folder / "roc.png", dpi, plt)

    kc = ks_curve(y, p)
    i = int(kc["gap"].to_numpy().argmax())
    fig, ax = plt.subplots(figsize=(5.5, 5))
    x = kc["cum_bad_share"] * y.sum() + kc["cum_good_share"] * (len(y) - y.sum())
    x = x / max(len(y), 1)
    ax.plot(x, kc["cum_bad_share"], label="cumulative bad share")
    ax.plot(x, kc["cum_good_share"], label="cumulative good share")
    ax.vlines(x.iloc[i], kc["cum_good_share"].iloc[i], kc["cum_bad_share"].iloc[i], colors="red",
              label=f"KS = {kc['gap'].iloc[i]:.3f}")
    ax.set_xlabel("share of population (riskiest first)")
    ax.set_ylabel("cumulative share")
    ax.set_title(f"KS{suffix}")
    ax.legend(loc="lower right")
    paths["ks"] = _save(fig, folder / "ks.png", dpi, plt)

    d = deciles if deciles is not None else decile_table(y, p)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.bar(d["decile"].astype(str), d["bad_rate"], color="#4c72b0")
    ax.axhline(y.mean(), color="red", linestyle="--", linewidth=1, label=f"overall {y.mean():.2%}")
    ax.set_xlabel("score decile (1 = riskiest)")
    ax.set_ylabel("bad rate")
    ax.set_title(f"Bad rate by decile{suffix}")
    ax.legend()
    paths["deciles"] = _save(fig, folder / "deciles.png", dpi, plt)

    fig, ax = plt.subplots(figsize=(5.5, 5))
    disp = CalibrationDisplay.from_predictions(y, p, n_bins=10, strategy="quantile", ax=ax, name="model")
    top = float(max(np.max(disp.prob_pred), np.max(disp.prob_true), 1e-3)) * 1.1
    ax.set_xlim(0, min(top, 1.0))
    ax.set_ylim(0, min(top, 1.0))
    ax.set_title(f"Calibration{suffix}")
    paths["calibration"] = _save(fig, folder / "calibration.png", dpi, plt)
    return paths


def _save(fig, path: Path, dpi: int, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
