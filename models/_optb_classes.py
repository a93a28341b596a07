"""optbinning subclasses used by the scorecard, defined at module level so fitted models pickle.

Importing this module imports optbinning (seconds); :mod:`models._optb` imports it only when a
binning is fitted.
"""
from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import type_of_target

from models._optb import optbinning

_ob = optbinning()


class RecordingOptimalBinning(_ob.OptimalBinning):
    """``OptimalBinning`` that keeps the event counts of the pre-bins its optimiser received
    (``prebin_counts_``: (non-events, events)); nothing else changes."""

    def _fit_optimizer(self, splits, n_nonevent, n_event):
        self.prebin_counts_ = (np.asarray(n_nonevent, dtype=float), np.asarray(n_event, dtype=float))
        return super()._fit_optimizer(splits, n_nonevent, n_event)


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
