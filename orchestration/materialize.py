"""`make materialize`: the demo's two jobs, `materialize_everything` and then `score_and_export` for one business
date, run one after the other in this process and recorded in DAGSTER_HOME like any run (the Dagster UI shows
both). One process loads the code location once: two `dagster job execute` calls paid the interpreter start and
the code-location load twice (9 s of a 206-s demo between the jobs).

    python -m orchestration.materialize --business-date 2026-09-30
"""
from __future__ import annotations

import argparse
import sys


def run_jobs(business_date: str, log=print) -> bool:
    """Both jobs on the lake of LAKE_ROOT; False (after saying which step failed) when a job fails, and the
    second job is then not started."""
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.partitions import BUSINESS_DATE_PARTITIONS

    keys = BUSINESS_DATE_PARTITIONS.get_partition_keys()
    if business_date not in keys:
        raise SystemExit(f"BUSINESS_DATE={business_date!r} is not a business-date partition: use a day from "
                         f"{keys[0]} to {keys[-1]} written YYYY-MM-DD")
    with dg.DagsterInstance.get() as instance:
        for name, partition_key in (("materialize_everything", None), ("score_and_export", business_date)):
            result = defs.resolve_job_def(name).execute_in_process(instance=instance, partition_key=partition_key,
                                                                raise_on_error=False)
            if not result.success:
                failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
                log(f"{name} (run {result.run_id}) failed in step(s): {', '.join(failed) or 'none (see the log above)'}")
                return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--business-date", required=True, help="the score_and_export partition, YYYY-MM-DD")
    args = parser.parse_args(argv)
    return 0 if run_jobs(args.business_date) else 1


if __name__ == "__main__":
    sys.exit(main())
