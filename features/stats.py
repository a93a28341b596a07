"""Per-feature statistics of the mart: missing rate, distinct count, IV against the A-card label, PSI.

* missing rate: exact, from the Parquet column statistics (null counts) of every shard file of the table;
* distinct count, mean / min / max / quantiles, zero share: on a deterministic sample of spine rows
  (`sample_rows`, all of them when the spine is smaller);
* IV: against the A-card label the A-card models train on: the labels mart's column named by
  `labels.a_card.target` in models/specs/model_specs.yaml (one definition of the label; observations whose
  outcome window is not complete have none). Every feature gets a quick IV (deciles + a missing bin, WoE with 0.5 smoothing); the `optbinning_top`
  features with the highest quick IV are re-binned with optbinning's optimal WoE binning, whose IV replaces
  the quick one (`iv_method` says which). Optimal binning of all ~5,000 features would take minutes.
  Without labels (no matured loans yet) IV is missing.
* PSI: between the first and the last `psi_period_months` observation months of the spine, deciles of the
  first period plus a missing bin; PSI = sum (a - e) ln(a / e).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from features.catalog import catalog
from features.shards import parquet_files
from lake import storage
from lake.layout import LakeLayout

EPS = 1e-4
DECILES = np.linspace(0.1, 0.9, 9)
OPTBINNING_TASK_FEATURES = 20

MODEL_SPECS = Path(__file__).resolve().parent.parent / "models" / "specs" / "model_specs.yaml"
IV_LABEL = "a_card"  # the label IV is measured against: the one the A-card models train on


def iv_target(label: str = IV_LABEL) -> str:
    """The labels-mart column of a model's label, as declared once in models/specs/model_specs.yaml (read as
    configuration: features sit below models in the flow and import nothing from there)."""
    import yaml

    specs = yaml.safe_load(MODEL_SPECS.read_text())
    try:
        return specs["labels"][label]["target"]
    except KeyError as exc:
        raise ValueError(f"{MODEL_SPECS}: no `labels.{label}.target`; feature IV needs the A-card label") from exc


def acard_labels(labels_path, label: str = IV_LABEL, con=None) -> pa.Table:
    """obs_id, label (1 = bad) of every observation the labels mart gives the A-card label (the rows the A-card
    models train on); empty when the mart is not built yet or no outcome window is complete."""
    empty = pa.table({"obs_id": pa.array([], pa.int64()), "label": pa.array([], pa.int32())})
    target = iv_target(label)
    if not labels_path.exists():
        return empty
    own = con is None
    con = duckdb.connect() if own else con
    try:
        return con.sql(f'SELECT obs_id::BIGINT AS obs_id, "{target}"::INTEGER AS label '
                       f'FROM read_parquet({storage.sql_string(labels_path)}) WHERE "{target}" IS NOT NULL').to_arrow_table()
    finally:
        if own:
            con.close()


def _null_counts(files: list[Path]) -> tuple[dict[str, float], int]:
    """Exact null count per column and the row count, from the Parquet footers of a table's files (one per
    customer shard for a family table): no data is read."""
    nulls: dict[str, float] = {}
    n_rows = 0
    for f in files:
        meta = storage.parquet_metadata(f)
        names = [meta.schema.column(j).name for j in range(meta.num_columns)]
        n_rows += meta.num_rows
        for rg in range(meta.num_row_groups):
            g = meta.row_group(rg)
            for j, name in enumerate(names):
                st = g.column(j).statistics
                nulls[name] = nulls.get(name, 0.0) + (st.null_count if st is not None and st.has_null_count else 0)
    return nulls, n_rows


def _bin_index(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bins 0..len(edges) for values, len(edges)+1 for missing."""
    idx = np.searchsorted(edges, x, side="right")
    idx[np.isnan(x)] = len(edges) + 1
    return idx


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e_ok = expected[~np.isnan(expected)]
    if len(expected) == 0 or len(actual) == 0:
        return float("nan")
    edges = np.unique(np.quantile(e_ok, DECILES)) if len(e_ok) else np.array([])
    nb = len(edges) + 2
    pe = np.bincount(_bin_index(expected, edges), minlength=nb) / len(expected)
    pa_ = np.bincount(_bin_index(actual, edges), minlength=nb) / len(actual)
    pe, pa_ = np.maximum(pe, EPS), np.maximum(pa_, EPS)
    return float(np.sum((pa_ - pe) * np.log(pa_ / pe)))


def quick_iv(x: np.ndarray, y: np.ndarray) -> float:
    """IV over deciles + a missing bin, WoE with 0.5 smoothing."""
    ok = x[~np.isnan(x)]
    edges = np.unique(np.quantile(ok, DECILES)) if len(ok) else np.array([])
    nb = len(edges) + 2
    idx = _bin_index(x, edges)
    bad = np.bincount(idx, weights=y, minlength=nb)
    tot = np.bincount(idx, minlength=nb)
    good = tot - bad
    used = tot > 0
    pb = (bad[used] + 0.5) / (bad.sum() + 0.5 * used.sum())
    pg = (good[used] + 0.5) / (good.sum() + 0.5 * used.sum())
    return float(np.sum((pg - pb) * np.log(pg / pb)))


def _sorted_quantiles(ordered: np.ndarray, n_ok: np.ndarray, qs) -> np.ndarray:
    """Quantiles ``qs`` of every column of ``ordered`` (sorted along axis 0, NaN last; ``n_ok`` values per
    column) by numpy's default linear method, the same numbers as ``np.nanquantile`` per column without its
    per-column Python loop. NaN for a column with no values."""
    q = np.asarray(qs, dtype=float)[:, None]
    n = n_ok[None, :].astype(float)
    virtual = (n - 1) * q
    below = np.floor(virtual)
    lo = np.clip(below, 0, np.maximum(n - 1, 0)).astype(np.intp)
    hi = np.clip(below + 1, 0, np.maximum(n - 1, 0)).astype(np.intp)
    cols = np.arange(ordered.shape[1])[None, :]
    a, b = ordered[lo, cols], ordered[hi, cols]
    t = virtual - below
    diff = b - a
    out = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)  # numpy's _lerp, exact at both ends
    return np.where(n > 0, out, np.nan)


def _decile_counts(X: np.ndarray, edges: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Per column, the (weighted) counts of bins 0..9 (number of that column's decile edges <= the value) and
    the missing bin 10: the binning of ``psi`` / ``quick_iv`` for every column at once. Edges are not made
    unique (a repeated edge leaves an empty bin, which adds nothing to PSI or IV); NaN edges (no values to
    take deciles of) put every value in bin 0."""
    n, k = X.shape
    n_bins = edges.shape[0] + 2
    idx = np.zeros((n, k), dtype=np.int64, order="F")
    for edge in edges:
        idx += X >= edge
    idx[np.isnan(X)] = n_bins - 1
    idx += np.arange(k) * n_bins
    w = None if weights is None else np.broadcast_to(weights[:, None], (n, k)).ravel(order="F")
    return np.bincount(idx.ravel(order="F"), weights=w, minlength=k * n_bins).reshape(k, n_bins)


def _deciles(X: np.ndarray) -> np.ndarray:
    ordered = np.sort(X, axis=0)
    return _sorted_quantiles(ordered, X.shape[0] - np.isnan(X).sum(axis=0), DECILES)


def column_stats(X: np.ndarray, in_first: np.ndarray, in_last: np.ndarray, has_label: np.ndarray,
                 y: np.ndarray) -> dict[str, np.ndarray]:
    """The sample statistics of every column of ``X`` (rows x features, NaN = missing; column-major is
    fastest) at once: what the per-feature ``psi`` and ``quick_iv`` and numpy's reductions give one column at
    a time (a test holds them equal), without a Python loop over thousands of features. PSI is NaN when a
    period has no rows, the quick IV NaN without both classes among the labelled rows."""
    n, k = X.shape
    missing = np.isnan(X)
    n_ok = n - missing.sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns: their statistics are NaN
        out = {"n_ok": n_ok, "mean": np.nanmean(X, axis=0), "std": np.nanstd(X, axis=0),
               "min": np.nanmin(X, axis=0), "max": np.nanmax(X, axis=0),
               "zero_rate": (X == 0).sum(axis=0) / np.maximum(n_ok, 1)}
        ordered = np.sort(X, axis=0)  # NaN last
        out["p01"], out["p50"], out["p99"] = _sorted_quantiles(ordered, n_ok, [0.01, 0.5, 0.99])
        new_value = (ordered[1:] != ordered[:-1]) & (np.arange(1, n)[:, None] < n_ok[None, :])
        out["distinct"] = np.where(n_ok > 0, 1 + new_value.sum(axis=0), 0)
        out["psi"] = np.full(k, np.nan)
        if in_first.any() and in_last.any():
            E, A = np.asfortranarray(X[in_first]), np.asfortranarray(X[in_last])
            edges = _deciles(E)
            pe = np.maximum(_decile_counts(E, edges) / len(E), EPS)
            pa_ = np.maximum(_decile_counts(A, edges) / len(A), EPS)
            out["psi"] = np.sum((pa_ - pe) * np.log(pa_ / pe), axis=1)
        out["iv_quick"] = np.full(k, np.nan)
        if len(y) and 0 < y.sum() < len(y):
            L = np.asfortranarray(X[has_label])
            edges = _deciles(L)
            total = _decile_counts(L, edges)
            bad = _decile_counts(L, edges, weights=y)
            good = total - bad
            used = total > 0
            n_used = used.sum(axis=1, keepdims=True)
            pb = (bad + 0.5) / (bad.sum(axis=1, keepdims=True) + 0.5 * n_used)
            pg = (good + 0.5) / (good.sum(axis=1, keepdims=True) + 0.5 * n_used)
            out["iv_quick"] = np.where(used, (pg - pb) * np.log(pg / pb), 0.0).sum(axis=1)
    return out


def optbinning_iv(x: np.ndarray, y: np.ndarray, name: str = "x") -> float:
    import logging

    # cvxpy (an optbinning dependency) logs a broken optional solver (HiGHS) at import; the CP solver is used
    cvx_log = logging.getLogger("__cvxpy__")
    cvx_log.disabled = True
    try:
        from optbinning import OptimalBinning
    finally:
        cvx_log.disabled = False

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ob = OptimalBinning(name=name, dtype="numerical", solver="cp", max_n_prebins=20, min_prebin_size=0.02,
                            monotonic_trend="auto_asc_desc")
        ob.fit(x, y.astype(int))
        return float(ob.binning_table.build().loc["Totals", "IV"])


def _periods(months: list, k: int) -> tuple[list, list]:
    months = sorted(months)
    if len(months) < 2:
        return months, months
    k = min(k, len(months) // 2)
    return months[:k], months[-k:]


@dataclass(frozen=True)
class TableStatsTask:
    """One feature table's stats, a task for the features executor (in-process worker or Dask): the sample and
    the labels travel with it (tens of thousands of rows), the feature values are read where it runs."""
    layout: LakeLayout
    table: str
    features: tuple[str, ...]
    sample: pa.Table     # obs_id, in_first, in_last
    labels: pa.Table     # obs_id, label
    in_process_workers: int = 1


@dataclass
class TableStats:
    table: str
    rows: list[dict]
    skipped: str | None = None   # why the table had no stats (its files are missing)


def _sample_connection(task: "TableStatsTask"):
    """A DuckDB connection sized for where the task runs, with the task's sample and labels registered, and
    the read_parquet source of its table."""
    from features.executor import duckdb_settings

    con = storage.connect(task.layout.root, config=duckdb_settings(task.in_process_workers).config())
    con.execute("SET enable_progress_bar = false").fetchall()  # a worker's log is no terminal
    con.register("sample", task.sample)
    con.register("labels", task.labels)
    path = task.layout.feature_table(task.table)
    return con, f"read_parquet({storage.sql_string(storage.parquet_source(path))})"


def table_stats(task: TableStatsTask) -> TableStats:
    """Missing rate, distribution, PSI and quick IV of one table's features (see the module docstring)."""
    path = task.layout.feature_table(task.table)
    files = parquet_files(path)
    if not files:
        return TableStats(task.table, [], skipped=f"feature stats: {path} missing, skipped")
    null_of, n_rows = _null_counts(files)
    present = [f for f in task.features if f in null_of]
    rows: list[dict] = []
    con, source = _sample_connection(task)
    try:
        for start in range(0, len(present), 400):
            chunk = present[start:start + 400]
            cols = ", ".join(f't."{f}"' for f in chunk)
            tbl = con.sql(f"SELECT s.in_first, s.in_last, l.label, {cols} FROM {source} t "
                          f"JOIN sample s USING (obs_id) LEFT JOIN labels l USING (obs_id) ORDER BY t.obs_id").to_arrow_table()
            in_first = tbl.column("in_first").to_numpy(zero_copy_only=False).astype(bool)
            in_last = tbl.column("in_last").to_numpy(zero_copy_only=False).astype(bool)
            lab = tbl.column("label").to_numpy(zero_copy_only=False).astype(float)
            has_label = ~np.isnan(lab)
            X = np.empty((tbl.num_rows, len(chunk)), order="F")  # column-major: per-column work is contiguous
            for j, f in enumerate(chunk):
                X[:, j] = tbl.column(f).to_numpy(zero_copy_only=False)
            st = column_stats(X, in_first, in_last, has_label, lab[has_label])
            for j, f in enumerate(chunk):
                ok = int(st["n_ok"][j])
                r = {"name": f, "table": task.table, "n_rows": n_rows,
                     "missing_rate": float(null_of[f] / n_rows) if n_rows else float("nan"),
                     "distinct_count": int(st["distinct"][j]), "sample_rows": int(tbl.num_rows)}
                for key in ("mean", "std", "min", "max", "p01", "p50", "p99", "zero_rate"):
                    r[key] = float(st[key][j]) if ok > (1 if key == "std" else 0) else None
                r["psi"] = None if np.isnan(st["psi"][j]) else float(st["psi"][j])
                r["iv_quick"] = None if np.isnan(st["iv_quick"][j]) else float(st["iv_quick"][j])
                rows.append(r)
    finally:
        con.close()
    return TableStats(task.table, rows)


def table_optbinning_iv(task: TableStatsTask) -> dict[str, float | str]:
    """Optimal-binning IV of some features of one table (``task.features``) on the labelled sample rows that
    table_stats used: ``{feature: IV}``, or the error text for a feature optbinning could not bin."""
    cols = ", ".join(f't."{n}"' for n in task.features)
    con, source = _sample_connection(task)
    try:
        tbl = con.sql(f"SELECT l.label, {cols} FROM {source} t "
                      f"JOIN sample s USING (obs_id) JOIN labels l USING (obs_id) ORDER BY t.obs_id").to_arrow_table()
    finally:
        con.close()
    y = tbl.column("label").to_numpy(zero_copy_only=False).astype(float)
    out: dict[str, float | str] = {}
    for name in task.features:
        try:
            out[name] = optbinning_iv(tbl.column(name).to_numpy(zero_copy_only=False).astype(np.float64), y, name)
        except Exception as exc:  # noqa: BLE001 - the caller keeps the quick IV and says why
            out[name] = f"{type(exc).__name__}: {exc}"
    return out


def compute_feature_stats(lake: LakeLayout | Path | str, sample_rows: int = 30_000, optbinning_top: int | None = None,
                          seed: int = 42, log=print, runner=None) -> tuple[pa.Table, dict, pa.Table]:
    """Stats of every catalog feature present in the lake's feature mart (LakeLayout.features).

    One task per feature table on ``runner`` (default: the environment's features executor: worker processes
    in-process, or Dask), then one per table holding some of the ``optbinning_top`` features.
    Returns (stats, summary, labels): one row per feature, a summary dict, and the A-card labels by obs_id."""
    from features.executor import InProcessRunner, runner_from_env

    cat = catalog()
    settings = cat.settings
    optbinning_top = int(settings.get("optbinning_top", 150) if optbinning_top is None else optbinning_top)
    layout = _layout(lake)
    t0 = time.perf_counter()
    con = storage.connect(layout.root)
    con.execute("CREATE TABLE spine AS SELECT obs_id, obs_month "
                f"FROM read_parquet({storage.sql_string(layout.feature_spine)})").fetchall()
    n_spine = con.execute("SELECT count(*) FROM spine").fetchall()[0][0]
    con.register("labels_in", acard_labels(layout.labels, con=con))
    con.execute("CREATE TABLE labels AS SELECT s.obs_id, l.label FROM spine s JOIN labels_in l USING (obs_id)").fetchall()
    n_labelled, n_bad = con.execute("SELECT count(*), coalesce(sum(label), 0) FROM labels").fetchall()[0]
    months = [r[0] for r in con.execute("SELECT DISTINCT obs_month FROM spine WHERE obs_month IS NOT NULL").fetchall()]
    first, last = _periods(months, int(settings.get("psi_period_months", 3)))
    con.register("first_p", pa.table({"m": pa.array(first, pa.date32())}))
    con.register("last_p", pa.table({"m": pa.array(last, pa.date32())}))
    third = max(sample_rows // 3, 1)
    con.execute(f"""
        CREATE TABLE sample AS
        SELECT obs_id, max(grp) FILTER (WHERE grp = 'first') IS NOT NULL AS in_first,
               max(grp) FILTER (WHERE grp = 'last') IS NOT NULL AS in_last
        FROM (
            SELECT obs_id, 'label' AS grp FROM labels
            UNION ALL SELECT obs_id, 'first' FROM (SELECT obs_id FROM spine WHERE obs_month IN (SELECT m FROM first_p)
                                                   ORDER BY hash(obs_id + {seed}) LIMIT {third})
            UNION ALL SELECT obs_id, 'last' FROM (SELECT obs_id FROM spine WHERE obs_month IN (SELECT m FROM last_p)
                                                  ORDER BY hash(obs_id + {seed}) LIMIT {third})
            UNION ALL SELECT obs_id, 'any' FROM (SELECT obs_id FROM spine ORDER BY hash(obs_id + {seed}) LIMIT {third})
        ) GROUP BY obs_id""").fetchall()
    n_sample = con.execute("SELECT count(*) FROM sample").fetchall()[0][0]
    sample = con.sql("SELECT obs_id, in_first, in_last FROM sample ORDER BY obs_id").to_arrow_table()
    labels = con.sql("SELECT obs_id, label FROM labels ORDER BY obs_id").to_arrow_table()
    own_runner = runner is None
    runner = runner or runner_from_env()
    workers = runner.workers if isinstance(runner, InProcessRunner) else 1
    tasks = [TableStatsTask(layout, table, tuple(f.name for f in feats), sample, labels, workers)
             for table, feats in cat.by_table().items()]
    try:
        rows: list[dict] = []
        for result in runner.map(table_stats, tasks):  # in task order: the same rows in the same order every run
            if result.skipped:
                log(result.skipped)
            rows.extend(result.rows)
        # optimal WoE binning (optbinning) for the most informative features by quick IV, by table
        t_ob = time.perf_counter()
        ranked = sorted((r for r in rows if r["iv_quick"] is not None), key=lambda r: -r["iv_quick"])
        for r in rows:
            r["iv"], r["iv_method"] = r["iv_quick"], ("deciles" if r["iv_quick"] is not None else None)
        top_by_table: dict[str, list[dict]] = {}
        for r in ranked[:optbinning_top]:
            top_by_table.setdefault(r["table"], []).append(r)
        # the strongest features often sit in one family: tasks of at most OPTBINNING_TASK_FEATURES spread them
        optb_tasks = [TableStatsTask(layout, table, tuple(r["name"] for r in top[i:i + OPTBINNING_TASK_FEATURES]),
                                     sample, labels, workers)
                      for table, top in top_by_table.items() for i in range(0, len(top), OPTBINNING_TASK_FEATURES)]
        by_feature = {r["name"]: r for top in top_by_table.values() for r in top}
        for task, ivs in zip(optb_tasks, runner.map(table_optbinning_iv, optb_tasks)):
            for name in task.features:
                r, iv = by_feature[name], ivs[name]
                if isinstance(iv, str):
                    log(f"optbinning failed for {r['name']}: {iv}")  # the quick IV stays
                else:
                    r["iv"], r["iv_method"] = iv, "optbinning"
    finally:
        if own_runner:
            runner.close()
    by_name = {f.name: f for f in cat.features}
    for r in rows:
        f = by_name[r["name"]]
        r.update({"family": f.family, "group": f.group, "source": f.source, "aggregation": f.aggregation,
                  "window": f.window, "description": f.description})
        r["psi_class"] = (None if r["psi"] is None or np.isnan(r["psi"]) else
                          "stable" if r["psi"] < 0.1 else "watch" if r["psi"] <= 0.25 else "shift")
    computed_at = datetime.now().replace(microsecond=0)
    out = pa.Table.from_pylist([{**r, "computed_at": computed_at} for r in rows])
    summary = {
        "features": len(rows), "tables": len({r["table"] for r in rows}), "spine_rows": int(n_spine),
        "sample_rows": int(n_sample), "labelled_applications": int(n_labelled), "bad_applications": int(n_bad),
        "psi_first_period": [str(m) for m in first], "psi_last_period": [str(m) for m in last],
        "optbinning_features": min(optbinning_top, len(ranked)), "optbinning_s": round(time.perf_counter() - t_ob, 1),
        "elapsed_s": round(time.perf_counter() - t0, 1),
    }
    con.close()
    return out, summary, labels


def _layout(lake: LakeLayout | Path | str) -> LakeLayout:
    return lake if isinstance(lake, LakeLayout) else LakeLayout.at(lake)


def write_stats(lake: LakeLayout | Path | str, stats: pa.Table, summary: dict,
                labels: pa.Table | None = None) -> dict[str, Path]:
    """LakeLayout.feature_stats: feature_stats.parquet, feature_dictionary.parquet, acard_labels.parquet, summary.json."""
    import json

    from features.docs import dictionary_rows

    layout = _layout(lake)
    paths = {"stats": layout.feature_stats_file("feature_stats"),
             "dictionary": layout.feature_stats_file("feature_dictionary"),
             "summary": layout.feature_stats / "summary.json", "labels": layout.feature_stats_file("acard_labels")}
    tables = [("stats", stats), ("dictionary", pa.Table.from_pylist(dictionary_rows(catalog())))]
    if labels is not None:
        tables.append(("labels", labels))
    for key, table in tables:
        storage.write_parquet(table, paths[key], compression="zstd")
    storage.write_text(paths["summary"], json.dumps(summary, indent=2, default=str))
    return paths
