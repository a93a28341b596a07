"""dbt for this lake, without Dagster: the environment of a dbt call, the manifest, and a CLI.

* Every dbt call gets the lake's locations from :meth:`LakeLayout.dbt_env` (dbt's profile and macros name no
  folder and have no default), scoped to that call: a subprocess environment, or :func:`scoped_env` around
  the moment Dagster starts dbt. Nothing here changes the environment of the importing process.
* The manifest Dagster builds its dbt assets from is prepared explicitly (``python -m orchestration.dbt_cli
  prepare``, run by ``make materialize`` / ``make dev`` and by the test session), never by importing a
  module; a file lock serialises check, parse and read, so concurrent workers never read a half-written one.

    python -m orchestration.dbt_cli prepare                    # parse when a model, macro or config changed
    python -m orchestration.dbt_cli build --select marts       # any dbt command against $LAKE_ROOT
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from lake.layout import REPO_ROOT, LakeLayout

DBT_DIR = REPO_ROOT / "dbt_project"
# The dbt installed beside this interpreter (the venv), whether or not the venv is activated.
_VENV_DBT = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else (shutil.which("dbt") or "dbt")
MANIFEST = DBT_DIR / "target" / "manifest.json"  # where dagster-dbt's DbtProject looks for it
MANIFEST_INPUTS = ("models/**/*", "macros/**/*", "seeds/**/*", "tests/**/*", "*.yml")
_ENV_LOCK = threading.Lock()


class ManifestMissing(RuntimeError):
    """The dbt manifest is missing or older than the dbt project's files."""


def dbt_env(layout: LakeLayout) -> dict[str, str]:
    """Environment variables of a dbt call against ``layout``'s lake."""
    return {
        **layout.dbt_env(),
        "DO_NOT_TRACK": "1",  # dbt must never wait on its usage-stats endpoint offline
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # a partial run (a subset of models) runs only the tests whose every parent it builds
        "DBT_INDIRECT_SELECTION": os.environ.get("DBT_INDIRECT_SELECTION", "cautious"),
    }


@contextmanager
def scoped_env(values: dict[str, str]):
    """Set environment variables for the duration of the block only (for a library that starts dbt from
    os.environ, such as DbtCliResource.cli); one block at a time in a process."""
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def run_dbt(layout: LakeLayout, *args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    """Run a dbt command against this lake, with its target and log folders beside the lake's catalog."""
    work = layout.dbt_target.parent
    cmd = [DBT_EXECUTABLE, *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
           "--target-path", str(layout.dbt_target), "--log-path", str(work / "logs")]
    layout.local.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(cmd, env={**os.environ, **dbt_env(layout)}, cwd=DBT_DIR, capture_output=capture, text=True)
    if check and proc.returncode != 0:
        detail = f"\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}" if capture else ""
        raise RuntimeError(f"dbt {' '.join(args)} failed (exit {proc.returncode}) on lake {layout.root}{detail}")
    return proc


def _manifest_is_current() -> bool:
    if not MANIFEST.exists():
        return False
    built = MANIFEST.stat().st_mtime
    return all(p.stat().st_mtime <= built for pattern in MANIFEST_INPUTS for p in DBT_DIR.glob(pattern) if p.is_file())


def _lock() -> FileLock:
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(MANIFEST.parent / ".manifest.lock"))


def prepare_manifest(layout: LakeLayout | None = None) -> Path:
    """``dbt parse`` when the manifest is missing or older than a model, macro or config file."""
    with _lock():
        if not _manifest_is_current():
            env = {**os.environ, **dbt_env(layout or LakeLayout.from_env())}
            subprocess.run([DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_DIR),
                            "--profiles-dir", str(DBT_DIR), "--target-path", str(MANIFEST.parent)],
                           check=True, env=env, cwd=DBT_DIR)
    return MANIFEST


def read_manifest() -> dict:
    """The prepared manifest; under ``dagster dev`` it is prepared first (dagster-dbt's prepare_if_dev pattern)."""
    if os.environ.get("DAGSTER_IS_DEV_CLI"):
        prepare_manifest()
    with _lock():
        if not _manifest_is_current():
            raise ManifestMissing(
                f"The dbt manifest {MANIFEST} is missing or older than the dbt project: run "
                "`python -m orchestration.dbt_cli prepare` (make materialize and make dev do it).")
        return json.loads(MANIFEST.read_text())


def main(argv: list[str]) -> int:
    if argv[:1] == ["prepare"]:
        print(prepare_manifest())
        return 0
    if not argv:
        print(__doc__)
        return 2
    return run_dbt(LakeLayout.from_env(), *argv, check=False, capture=False).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
