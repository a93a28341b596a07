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
    """IV of a fitted ``OptimalBinning`` (the binning table's total)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = binning.binning_table.build()
    return float(table.loc["Totals", "IV"])
