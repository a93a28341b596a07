"""Import optbinning quietly and lazily.

optbinning imports cvxpy, which logs a warning when an optional solver (HiGHS) fails to import; the
warning is harmless for binning (optbinning uses OR-Tools' CP-SAT) and is filtered here. Importing
optbinning takes a few seconds, so modules that only need LightGBM do not pay for it.
"""
from __future__ import annotations

import logging
import warnings


def _quiet_cvxpy() -> None:
    logger = logging.getLogger("__cvxpy__")
    if not any(getattr(f, "_models_quiet", False) for f in logger.filters):
        class _Quiet(logging.Filter):
            _models_quiet = True

            def filter(self, record: logging.LogRecord) -> bool:
                return "importing solver" not in record.getMessage()

        logger.addFilter(_Quiet())


def optbinning():
    _quiet_cvxpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import optbinning as ob
    return ob


SIGNIFICANT_TREND = "auto_significant"
SHAPE_MIN_IV_GAIN = 0.02      # a peak / valley must add this much IV over monotone bins ...
SHAPE_MIN_IV_RATIO = 1.5      # ... and this much relatively, or the monotone bins are kept


def fit_optimal_binning(x, y, name: str, categorical: bool = False, **params):
    """Fit one ``OptimalBinning`` (warnings silenced); returns the fitted object.

    ``monotonic_trend="auto_significant"`` (this library's default): monotone bins
    (optbinning's ``auto_asc_desc``) unless a peak or valley (``auto_heuristic``) adds at least
    0.02 IV and 50 % over them. optbinning's plain ``"auto"`` lets any shape win, which fits pure
    noise (IV 0.025 instead of 0.007) and lost 0.015 AUC on Lending Club; monotone-only flattens
    U-shaped effects such as age.
    """
    ob = optbinning()
    if not categorical and params.get("monotonic_trend") == SIGNIFICANT_TREND:
        mono = fit_optimal_binning(x, y, name, **{**params, "monotonic_trend": "auto_asc_desc"})
        shaped = fit_optimal_binning(x, y, name, **{**params, "monotonic_trend": "auto_heuristic"})
        iv_mono, iv_shaped = information_value(mono), information_value(shaped)
        if iv_shaped >= iv_mono + SHAPE_MIN_IV_GAIN and iv_shaped >= SHAPE_MIN_IV_RATIO * iv_mono:
            return shaped
        return mono
    binning = ob.OptimalBinning(name=name, dtype="categorical" if categorical else "numerical", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        binning.fit(x, y)
    return binning


def information_value(binning) -> float:
    """IV of a fitted ``OptimalBinning``: the binning table's total, computed from its event counts
    as optbinning does (Jeffrey's divergence over the bins with both events and non-events) without
    building the whole table (its other statistics cost more than the binning on small data)."""
    import numpy as np

    table = binning.binning_table
    n_event = np.asarray(table.n_event, dtype=float)
    n_nonevent = np.asarray(table.n_nonevent, dtype=float)
    mask = (n_event > 0) & (n_nonevent > 0)
    if not mask.any():
        return 0.0
    p_event = n_event[mask] / n_event.sum()
    p_nonevent = n_nonevent[mask] / n_nonevent.sum()
    return float(np.sum((p_event - p_nonevent) * np.log(p_event / p_nonevent)))
