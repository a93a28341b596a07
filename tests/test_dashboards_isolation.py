"""Running a dashboard through AppTest must not break process pools started later in the same test process:
AppTest leaves the page script as ``__main__`` and "spawn" re-runs ``__main__`` in each child
(tests/conftest.py puts it back). The two tests run in this order, in one process (``--dist loadfile``)."""
from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from lake.layout import REPO_ROOT

TEST_PROCESS_MAIN = sys.modules["__main__"]


def test_apptest_makes_the_dashboard_the_main_module(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LAKE_ROOT", str(tmp_path / "empty_lake"))  # no marts: the page says so and the run ends
    AppTest.from_file(str(REPO_ROOT / "dashboards" / "app.py"), default_timeout=60).run()
    assert sys.modules["__main__"].__file__ == str(REPO_ROOT / "dashboards" / "app.py")


def test_a_spawned_pool_works_after_an_apptest():
    assert sys.modules["__main__"] is TEST_PROCESS_MAIN
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        child = pool.submit(os.getpid).result(timeout=120)
    assert child != os.getpid()
