"""Benchmark: server-side compute time of every dashboard page (streamlit.testing.v1.AppTest), cold cache
and warm cache, on a lake you point it at.

    LAKE_ROOT=data .venv/bin/python bench/bench_pages.py              # the demo lake
    .venv/bin/python bench/bench_pages.py --lake /tmp/lake --repeat 5

Per page: cold = first run after `st.cache_data.clear()` (queries + chart specs), warm = median of the
following runs (served from the cache). Figures: the AppTest wall time of a run, and for the portfolio pages
(run through app.py) the app's own "Page computed in N ms" caption. Results also go to bench/results/pages.json. No target is asserted: page
compute depends on the machine's load; compare pages with each other in one run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "dashboards" / "app.py"
PAGES = {"Vintage": "views/vintage.py", "Delinquency": "views/delinquency.py", "Fund usage": "views/fund_usage.py",
         "Models": "models", "Features": "features", "Data quality": "data_quality"}


def _page_ms(at) -> float | None:
    for c in at.sidebar.caption:
        if c.value.startswith("Page computed in"):
            return float(c.value.split()[3])
    return None


def _app_test(target: str):
    from streamlit.testing.v1 import AppTest

    if target.endswith(".py"):  # a script page: through the app (sidebar filters included)
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()
        return at.switch_page(target)
    # a function page: AppTest switches only to script pages, so run the page's render() on its own
    return AppTest.from_string(f"from dashboards.page_modules.{target} import render\nrender()", default_timeout=120)


def run(repeat: int) -> dict[str, dict[str, float | None]]:
    import streamlit as st

    out = {}
    for name, target in PAGES.items():
        at = _app_test(target)
        st.cache_data.clear()
        times, walls = [], []
        for _ in range(repeat + 1):
            started = time.perf_counter()
            at.run()
            walls.append(1000 * (time.perf_counter() - started))
            if at.exception:
                raise SystemExit(f"{name}: {[e.value for e in at.exception]}")
            times.append(_page_ms(at))
        warm = [t for t in times[1:] if t is not None]
        out[name] = {"cold_ms": times[0], "warm_ms": statistics.median(warm) if warm else None,
                     "cold_wall_ms": walls[0], "warm_wall_ms": statistics.median(walls[1:])}
        print(f"{name:<14} AppTest wall: cold {walls[0]:7.0f} ms  warm {out[name]['warm_wall_ms']:7.0f} ms"
              + (f"   page compute: cold {times[0]:.0f} ms  warm {out[name]['warm_ms']:.0f} ms" if times[0] else ""),
              flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", help="lake root (default: $LAKE_ROOT or <repo>/data)")
    ap.add_argument("--repeat", type=int, default=3, help="warm runs per page")
    args = ap.parse_args()
    if args.lake:
        os.environ["LAKE_ROOT"] = args.lake
    from lake.layout import LakeLayout

    print(f"lake: {LakeLayout.from_env().root}")
    result = {"lake": str(LakeLayout.from_env().root), "pages": run(args.repeat), "cpus": os.cpu_count(),
              "load_avg": os.getloadavg()}
    out = REPO / "bench" / "results" / "pages.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
