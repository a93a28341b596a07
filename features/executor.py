"""Where shard tasks run: in this process (the embedded default) or on a Dask cluster.

* No configuration: an in-process runner (a pool of `FEATURES_WORKERS` worker processes, default 2), no servers.
* `DASK_SCHEDULER_ADDRESS=tcp://host:8786` (or the Dagster `DaskResource`, which sets it for the dbt step):
  shard tasks go to that cluster with `distributed.Client.map`; a task that fails (a worker died, an error) is
  retried by Dask (`retries`), which is safe because every shard task is idempotent (features/shards.py).

DuckDB inside a task is sized for where it runs (`duckdb_settings`): on a Dask worker its threads are the
worker's threads and its memory limit a share of the worker's memory limit, so several tasks on one worker never
oversubscribe it; in-process, `FEATURES_DUCKDB_THREADS` / `FEATURES_DUCKDB_MEMORY` or the machine's cores.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool as BrokenExecutor
from dataclasses import dataclass

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class DuckDBSettings:
    threads: int
    memory_limit: str | None = None

    def config(self) -> dict:
        cfg = {"threads": max(int(self.threads), 1), "preserve_insertion_order": True}
        if self.memory_limit:
            cfg["memory_limit"] = self.memory_limit
        return cfg


def _dask_worker():
    try:
        from distributed import get_worker
    except ImportError:  # pragma: no cover - dask is a dependency, but the in-process path needs none of it
        return None
    try:
        return get_worker()
    except ValueError:  # not inside a Dask worker
        return None


def duckdb_settings(in_process_workers: int = 1) -> DuckDBSettings:
    """DuckDB threads and memory limit for a task running here (a Dask worker or this process)."""
    worker = _dask_worker()
    if worker is not None:
        nthreads = max(int(getattr(worker.state, "nthreads", 1)), 1)
        limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
        # DuckDB gets half of this task's share of the worker: the reshape's numpy arrays need the rest
        memory = f"{max(int(limit / nthreads * 0.5) // 2**20, 256)}MB" if limit else None
        return DuckDBSettings(threads=1, memory_limit=memory)
    threads = int(os.environ.get("FEATURES_DUCKDB_THREADS") or max((os.cpu_count() or 1) // in_process_workers, 1))
    return DuckDBSettings(threads=threads, memory_limit=os.environ.get("FEATURES_DUCKDB_MEMORY") or None)


class InProcessRunner:
    """Runs tasks on this machine with no servers: one at a time in this process (`workers=1`), or `workers` at
    a time in a pool of worker processes, retrying a failed task like Dask would.

    Processes, not threads: shard threads shared one GIL in the reshape and the write, so two of them used 1.17
    of 2 cores on the 100k mart (294 s where two Dask worker processes took 220 s). The pool is started once per
    process and environment and reused by every family and scoring run (a spawned worker imports the task's
    modules once, ~1-2 s); a worker that dies (killed, out of memory) breaks the pool, which is started afresh
    and the task retried: tasks are idempotent (features/shards.py, models/batch.py)."""

    kind = "in-process"

    def __init__(self, workers: int = 1, retries: int = DEFAULT_RETRIES):
        self.workers = max(int(workers), 1)
        self.retries = retries

    def map(self, fn: Callable, tasks: Iterable) -> Iterator:
        tasks = list(tasks)
        if self.workers == 1:
            for t in tasks:
                yield _attempt(fn, t, self.retries)
            return
        submitted = [_submit(self.workers, fn, t) for t in tasks]  # (pool, future) per task
        for i, task in enumerate(tasks):
            for attempt in range(self.retries + 1):
                pool, future = submitted[i]
                try:
                    result = future.result()
                    break
                except Exception as exc:
                    if attempt == self.retries:
                        raise
                    if isinstance(exc, BrokenExecutor):
                        _discard_pool(self.workers, pool)
                        # the broken pool's unfinished tasks failed with it: resubmit them all at once
                        for j in range(i + 1, len(tasks)):
                            old_pool, old = submitted[j]
                            if old_pool is pool and not (old.done() and old.exception() is None):
                                submitted[j] = _submit(self.workers, fn, tasks[j])
                    time.sleep(0.1 * (attempt + 1))
                    submitted[i] = _submit(self.workers, fn, task)
            yield result

    def describe(self) -> str:
        return "in-process (1 worker)" if self.workers == 1 else f"in-process ({self.workers} worker processes)"

    def close(self) -> None:
        pass  # the pool outlives a runner: the next family or scoring run reuses its warm workers


def _attempt(fn: Callable, task, retries: int):
    for attempt in range(retries + 1):
        try:
            return fn(task)
        except Exception:
            if attempt == retries:
                raise
            time.sleep(0.1 * (attempt + 1))


_POOL_LOCK = threading.Lock()
_POOLS: dict[int, tuple[int, ProcessPoolExecutor]] = {}


def _environment_key() -> int:
    # workers inherit the environment at start: a changed lake root, endpoint or setting needs fresh workers
    return hash(frozenset(os.environ.items()))


def _pool(workers: int) -> ProcessPoolExecutor:
    with _POOL_LOCK:
        key = _environment_key()
        held = _POOLS.get(workers)
        if held is not None and held[0] == key:
            return held[1]
        if held is not None:
            held[1].shutdown(wait=False)  # its running tasks finish; new ones go to fresh workers
        # spawn: the parent may hold DuckDB, OpenMP or Dagster threads, which a forked child would inherit broken
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_quiet_stdout)
        _POOLS[workers] = (key, pool)
        return pool


def _quiet_stdout() -> None:
    """A worker writes nothing to the parent's stdout: in the dbt process that stream is dbt's JSON event log,
    which Dagster parses line by line (a stray line there could hide a model's result); its output goes to
    stderr instead, Python's and native code's alike."""
    import sys

    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def _discard_pool(workers: int, pool: ProcessPoolExecutor) -> None:
    with _POOL_LOCK:
        if workers in _POOLS and _POOLS[workers][1] is pool:
            del _POOLS[workers]
    pool.shutdown(wait=False)


def _submit(workers: int, fn: Callable, task) -> tuple[ProcessPoolExecutor, Future]:
    pool = _pool(workers)
    try:
        return pool, pool.submit(fn, task)
    except BrokenExecutor:
        _discard_pool(workers, pool)
        pool = _pool(workers)
        return pool, pool.submit(fn, task)


class DaskRunner:
    """Runs tasks on a Dask cluster through `client.map`."""

    kind = "dask"

    def __init__(self, client, retries: int = DEFAULT_RETRIES, owns_client: bool = False):
        self.client = client
        self.retries = retries
        self._owns = owns_client

    @classmethod
    def connect(cls, address: str, retries: int = DEFAULT_RETRIES) -> "DaskRunner":
        from distributed import Client

        try:
            client = Client(address, timeout="30s", set_as_default=False)
        except OSError as exc:
            raise RuntimeError(f"cannot reach the Dask scheduler at {address!r} ({SCHEDULER_ENV}): {exc}. "
                               f"Start one (`dask scheduler` + `dask worker {address}`) or unset {SCHEDULER_ENV} "
                               "to run in-process.") from exc
        return cls(client, retries, owns_client=True)

    def map(self, fn: Callable, tasks: Iterable) -> Iterator:
        tasks = list(tasks)
        if not tasks:
            return
        # pure=False: a rerun of the same task list is new work, never a cached result
        futures = self.client.map(fn, tasks, pure=False, retries=self.retries)
        try:
            yield from self.client.gather(futures)  # results are small (the parts are written by the workers)
        finally:
            for fut in futures:
                fut.release()

    def describe(self) -> str:
        info = self.client.scheduler_info(n_workers=-1) if self.client.status == "running" else {}
        workers = info.get("workers", {})
        threads = sum(w.get("nthreads", 0) for w in workers.values())
        return f"dask {self.client.scheduler.address} ({len(workers)} workers, {threads} threads)"

    def close(self) -> None:
        if self._owns:
            self.client.close()


def runner_from_env(env: dict | None = None):
    """The runner the environment asks for: Dask when DASK_SCHEDULER_ADDRESS is set, else in-process."""
    env = os.environ if env is None else env
    address = (env.get(SCHEDULER_ENV) or "").strip()
    if address:
        return DaskRunner.connect(address)
    # two worker processes by default (one per core on our machines), each task's DuckDB on its share of the cores
    return InProcessRunner(workers=int(env.get("FEATURES_WORKERS") or min(2, os.cpu_count() or 1)))
