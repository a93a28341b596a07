"""Synthetic credit data with a known logistic truth, for tests, benchmarks and notebooks.

``make_credit_data`` returns one row per (customer_id, month) with features ``f_000…``, a binary
target ``bad`` drawn from a known probability ``true_prob`` (so the oracle AUC is known), and the
mess of real marts: informative features with monotone but non-linear effects and informative
missingness, redundant near-copies, near-constant and mostly-missing columns, noise with random
missing rates, one categorical feature and two noise features that drift in the last months.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def _intercept_for(z: np.ndarray, bad_rate: float) -> float:
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if (1 / (1 + np.exp(-(z + mid)))).mean() > bad_rate:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def make_credit_data(n_rows: int = 20_000, n_features: int = 200, n_informative: int = 20,
                     bad_rate: float = 0.10, signal: float = 1.0, n_periods: int = 12, drift_periods: int = 3,
                     start: str = "2024-01-01", seed: int = 0, dtype=np.float64) -> pd.DataFrame:
    """A feature frame with a known truth. ``signal`` scales all effects (oracle AUC ≈ 0.80 at 1.0)."""
    n_fixed = n_informative + min(5, n_informative) + 5   # + near-copies, 3 junk, 2 drifting
    if n_features < n_fixed:
        raise ValueError(f"n_features must be at least {n_fixed} for n_informative={n_informative}")
    rng = np.random.default_rng(seed)
    n = n_rows
    month_idx = rng.integers(0, n_periods, size=n)
    late = month_idx >= n_periods - drift_periods
    X = np.empty((n, n_features), dtype=np.float64)
    z = np.zeros(n)

    # informative features: linear, log of a skewed amount, a saturating effect; some with
    # informative missingness (the missing bin carries its own risk)
    betas = rng.uniform(0.25, 0.55, size=n_informative) * rng.choice([-1, 1], size=n_informative) * signal
    for j in range(n_informative):
        kind = j % 3
        if kind == 0:
            x = rng.normal(size=n)
            effect = x
        elif kind == 1:
            x = np.round(rng.lognormal(mean=2.0, sigma=1.0, size=n), 2)
            effect = (np.log1p(x) - 2.0) / 0.9
        else:
            x = rng.normal(size=n)
            effect = np.tanh(1.5 * x) * 1.2
        eff = betas[j] * effect
        if j % 4 == 1:
            miss = rng.random(n) < 0.08
            x = np.where(miss, np.nan, x)
            eff = np.where(miss, abs(betas[j]) * 0.8, eff)
        X[:, j] = x
        z += eff

    col = n_informative
    # redundant near-copies of the first informative features (correlation pruning has work to do)
    n_copies = min(5, n_informative)
    for j in range(n_copies):
        base = np.nan_to_num(X[:, j], nan=np.nanmedian(X[:, j]))
        X[:, col] = base + rng.normal(scale=0.3 * np.nanstd(X[:, j]), size=n)
        col += 1
    # near-constant and mostly-missing columns
    X[:, col] = np.where(rng.random(n) < 0.997, 0.0, 1.0); col += 1
    X[:, col] = 1.0; col += 1
    X[:, col] = np.where(rng.random(n) < 0.97, np.nan, rng.normal(size=n)); col += 1
    # two noise features that drift in the last `drift_periods` months (PSI stage)
    X[:, col] = rng.normal(size=n) + np.where(late, 1.5, 0.0); col += 1
    X[:, col] = rng.exponential(size=n) * np.where(late, 3.0, 1.0); col += 1
    # the rest: noise of assorted shapes with random missing rates
    for j in range(col, n_features):
        shape = j % 3
        x = rng.normal(size=n) if shape == 0 else (rng.poisson(3, size=n).astype(float) if shape == 1
                                                   else rng.lognormal(1.0, 0.8, size=n))
        x[rng.random(n) < rng.uniform(0, 0.3)] = np.nan
        X[:, j] = x

    # one informative categorical feature
    channels = np.array(["app", "web", "partner", "offline"])
    channel = channels[rng.choice(4, size=n, p=[0.5, 0.3, 0.15, 0.05])]
    z += pd.Series(channel).map({"app": -0.1, "web": 0.0, "partner": 0.35, "offline": 0.6}).to_numpy() * signal

    b0 = _intercept_for(z, bad_rate)
    true_prob = 1 / (1 + np.exp(-(z + b0)))
    bad = (rng.random(n) < true_prob).astype(np.int64)

    months = pd.date_range(start, periods=n_periods, freq="MS")
    frame = pd.DataFrame(X.astype(dtype, copy=False), columns=[f"f_{j:03d}" for j in range(n_features)])
    frame.insert(0, "customer_id", pd.Series([f"C{i:07d}" for i in rng.permutation(n)], dtype="string"))
    frame.insert(1, "month", months[month_idx].values)
    frame.insert(2, "partner_id", pd.Series(np.array(["PB01", "PB02", "PB03", "PB04"])[rng.integers(0, 4, n)], dtype="string"))
    frame["channel"] = pd.Series(channel, dtype="string")
    frame["bad"] = bad
    frame["true_prob"] = true_prob
    return frame


def feature_dictionary(frame: pd.DataFrame) -> pd.DataFrame:
    """A feature dictionary in the mart's shape (name, description, family, source, window, aggregation)."""
    feats = [c for c in frame.columns if c.startswith("f_") or c == "channel"]
    return pd.DataFrame({
        "name": feats,
        "description": [f"synthetic feature {f}" if f != "channel" else "application channel" for f in feats],
        "family": "synthetic", "source": "models.synthetic", "window": "", "aggregation": "",
    })
