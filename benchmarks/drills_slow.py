"""The slow fault drills (each takes a part of the stack away), on a scratch stack with the stand-in model.

Every drill the catalogue marks slow, under each routing policy given: the routing job SIGKILLed with 8 leads
in flight (`router-kill`), the agents SIGKILLed mid-burst for less and for longer than the redelivery schedule
(`agents-down`, `agents-gone` with its replay), the model hung by SIGSTOP (`model-hung`), the SMTP server and the
Kafka broker SIGKILLed for a while (`smtp-down`, `broker-down`). Prints the drill table; exits 1 if a promise broke.

Usage: .venv/bin/python benchmarks/drills_slow.py [--policies contract cascade] [--timeout 180]
"""

from __future__ import annotations

import argparse
import logging

from rich.console import Console

from sdr_pipeline.cli.drill import render
from sdr_pipeline.drills.catalogue import DRILLS, run_drill
from sdr_pipeline.drills.checker import Report
from sdr_pipeline.drills.stack import scratch_stack
from sdr_pipeline.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", nargs="+", default=["contract", "cascade"])
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds each drill waits for its leads")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    reports: list[Report] = []
    for policy in args.policies:
        with scratch_stack(Settings(), policy=policy) as stack:
            for drill in (d for d in DRILLS if d.slow):
                report = run_drill(stack, drill, timeout_s=args.timeout)
                report.drill = f"{drill.name} ({policy})"
                reports.append(report)
    render(reports, Console())
    raise SystemExit(0 if all(report.passed for report in reports) else 1)


if __name__ == "__main__":
    main()
