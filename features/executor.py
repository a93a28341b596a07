"""Where shard tasks run: in this process (the embedded default) or on a Dask cluster.

* No configuration: an in-process runner (a small thread pool, `FEATURES_WORKERS`, default 2), no servers.
* `DASK_SCHEDULER_ADDRESS=tcp://host:8786` (or the Dagster `DaskResource`, which sets it for the dbt step):
  shard tasks go to that cluster with `distributed.Client.map`; a task that fails (a worker died, an error) is
  retried by Dask (`retries`), which is safe because every shard task is idempotent (features/shards.py).

DuckDB inside a task is sized for where it runs (`duckdb_settings`): on a Dask worker its threads are the
worker's threads and its memory limit a share of the worker's memory limit, so several tasks on one worker never
oversubscribe it; in-process, `FEATURES_DUCKDB_THREADS` / `FEATURES_DUCKDB_MEMORY` or the machine's cores.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
    """Runs tasks in this process, `workers` at a time, retrying a failed task like Dask would."""

    kind = "in-process"

    def __init__(self, workers: int = 1, retries: int = DEFAULT_RETRIES):
        self.workers = max(int(workers), 1)
        self.retries = retries

    def _attempt(self, fn: Callable, task):
        for attempt in range(self.retries + 1):
            try:
                return fn(task)
            except Exception:
                if attempt == self.retries:
                    raise
                time.sleep(0.1 * (attempt + 1))

    def map(self, fn: Callable, tasks: Iterable) -> Iterator:
        tasks = list(tasks)
        if self.workers == 1:
            for t in tasks:
                yield self._attempt(fn, t)
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="feature-shard") as pool:
            yield from pool.map(lambda t: self._attempt(fn, t), tasks)

    def describe(self) -> str:
        return f"in-process ({self.workers} worker{'s' if self.workers > 1 else ''})"

    def close(self) -> None:
        pass


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
    # two shards at once by default: one computes while the other writes its part (DuckDB and pyarrow release
    # the GIL), each DuckDB on its share of the cores
    return InProcessRunner(workers=int(env.get("FEATURES_WORKERS") or min(2, os.cpu_count() or 1)))
