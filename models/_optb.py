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


def fit_optimal_binning(x, y, name: str, categorical: bool = False, **params):
    """Fit one ``OptimalBinning`` (warnings silenced); returns the fitted object."""
    ob = optbinning()
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
