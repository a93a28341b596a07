"""optbinning subclasses used by the scorecard, defined at module level so fitted models pickle.

Importing this module imports optbinning (seconds); :mod:`models._optb` imports it only when a
binning is fitted.
"""
from __future__ import annotations

import time

import numpy as np
from sklearn.utils.multiclass import type_of_target

from models._optb import EXACT_MERGE_TRENDS, exact_merge, optbinning

_ob = optbinning()
from optbinning.binning.auto_monotonic import auto_monotonic, peak_valley_trend_change_heuristic  # noqa: E402


class RecordingOptimalBinning(_ob.OptimalBinning):
    """``OptimalBinning`` that keeps the event counts of the pre-bins its optimiser received
    (``prebin_counts_``: (non-events, events)) and skips building and solving the CP model when its
    unique optimum is known exactly (:func:`models._optb.exact_merge`; ``exact_merge_`` says whether
    it was): the CP model's construction in Python costs most of a fit on small data. The result is
    the CP solver's own; everything else (pre-binning, tables, transforms) is optbinning's."""

    def _fit_optimizer(self, splits, n_nonevent, n_event):
        self.prebin_counts_ = (np.asarray(n_nonevent, dtype=float), np.asarray(n_event, dtype=float))
        t0 = time.perf_counter()
        solution = self._exact_solution(splits, n_nonevent, n_event)
        self.exact_merge_ = solution is not None
        if solution is None:
            return super()._fit_optimizer(splits, n_nonevent, n_event)
        # what optbinning's _fit_optimizer stores after an OPTIMAL solve (no solver statistics)
        self._status = "OPTIMAL"
        self._solution = solution
        self._splits_optimal = splits[solution[:-1]]
        self._time_solver = time.perf_counter() - t0

    def _exact_solution(self, splits, n_nonevent, n_event):
        """The CP model's unique optimum, or None where the exact merge does not cover the model
        (another solver or divergence, constraints it does not model, user splits)."""
        if (self.solver != "cp" or self.divergence != "iv" or len(n_nonevent) <= 1
                or self.max_pvalue is not None or self.min_event_rate_diff or self.gamma
                or self.user_splits is not None or self.user_splits_fixed is not None
                or self.min_n_bins is not None or self.max_n_bins is not None
                or any(v is not None for v in (self.min_bin_n_event, self.max_bin_n_event,
                                               self.min_bin_n_nonevent, self.max_bin_n_nonevent))):
            return None
        trend, trend_change = self._resolved_trend(n_nonevent, n_event)
        if trend not in EXACT_MERGE_TRENDS:
            return None
        bound = {k: None if v is None else int(np.ceil(v * self._n_samples_weighted))
                 for k, v in (("min_bin_size", self.min_bin_size), ("max_bin_size", self.max_bin_size))}
        return exact_merge(n_nonevent, n_event, trend, trend_change, **bound)

    def _resolved_trend(self, n_nonevent, n_event):
        """(trend, trend change) as optbinning's ``_fit_optimizer`` resolves ``monotonic_trend``."""
        if self.dtype != "numerical":
            return (None if self.monotonic_trend is None else "ascending"), None
        trend = self.monotonic_trend
        if trend in ("auto", "auto_heuristic", "auto_asc_desc"):
            trend = auto_monotonic(n_nonevent, n_event, self.monotonic_trend)
            if self.monotonic_trend == "auto_heuristic" and trend in ("peak", "valley"):
                trend = f"{trend}_heuristic"
        if trend in ("peak_heuristic", "valley_heuristic"):
            return trend, peak_valley_trend_change_heuristic(n_event / (n_nonevent + n_event), trend)
        return trend, None


class PrefitBinningProcess(_ob.BinningProcess):
    """A ``BinningProcess`` over binnings already fitted on the very rows it is fitted on.

    The feature selection has already optimised every kept feature (same parameters, same rows):
    ``fit`` adopts those binnings instead of optimising them again, and leaves optbinning's
    per-variable statistics (IV, Gini, JS, quality score: a binning-table analysis per feature,
    which costs more than the binning itself on small data) to :meth:`summary`, which computes
    them when asked. Everything else (transform, the scorecard table) is optbinning's own.
    """

    prefit_binnings: dict | None = None

    @classmethod
    def from_binnings(cls, binnings: dict, **params) -> "PrefitBinningProcess":
        process = cls(list(binnings), **params)
        process.prefit_binnings = dict(binnings)
        return process

    def __sklearn_clone__(self):
        # optbinning's Scorecard clones its binning process before fitting it: keep the binnings
        twin = super().__sklearn_clone__()
        twin.prefit_binnings = self.prefit_binnings
        return twin

    def _fit(self, X, y, sample_weight, check_input):
        if self.prefit_binnings is None:
            return super()._fit(X, y, sample_weight, check_input)
        if sample_weight is not None:
            raise ValueError("prefit binnings were fitted without sample weights")
        self._target_dtype = type_of_target(y)
        self._n_samples, self._n_variables = X.shape
        n_events = int(np.asarray(y).sum())
        for name in self.variable_names:
            optb = self.prefit_binnings[name]
            table = optb.binning_table
            rows, events = int(np.sum(table.n_event) + np.sum(table.n_nonevent)), int(np.sum(table.n_event))
            if (rows, events) != (self._n_samples, n_events):
                raise ValueError(f"the prefit binning of '{name}' was fitted on other rows ({rows} rows, "
                                 f"{events} events; fitting on {self._n_samples} rows, {n_events} events)")
            self._variable_dtypes[name] = optb.dtype
            self._binned_variables[name] = optb
        self._support = np.full(self._n_variables, True, dtype=bool)
        self._is_updated = True      # summary() computes the per-variable statistics first
        self._is_fitted = True
        return self
