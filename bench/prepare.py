"""`make prepare` timed: each page's variants and baselines trained from an empty runs folder, as a fresh install does
on its first `make run`, through the run queue (one run at a time on the CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.engine.store import RunStore

ROOT = Path(__file__).resolve().parents[1]


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as folder:
        env = {**os.environ, "TLDASH_RUNS_DIR": folder, "TLDASH_MAX_RUNNING": "1"}
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "core.runs", "prepare"], cwd=ROOT, env=env, capture_output=True,
                              text=True)
        wall = time.perf_counter() - start
        runs = RunStore(folder).list()
        return {"wall_s": wall, "exit": done.returncode, "cpu_threads": os.cpu_count(),
                "runs": [{"experiment": r.experiment, "strategy": str(r.config.get("strategy")), "status": r.status,
                          "seconds": r.seconds} for r in runs]}


def markdown(found: dict | None) -> list[str]:
    lines = ["", "## Ready for a talk (`make prepare`)", ""]
    if not found:
        return lines + ["Not measured yet: `python -m bench prepare`."]
    lines += [f"Each page's variants and baselines ({len(found['runs'])} runs) from an empty runs folder: "
              f"**{found['wall_s'] / 60:.1f} min** wall "
              f"(exit {found['exit']}), runs one at a time, {found['cpu_threads']} CPU threads; the target is 15 min.",
              "", "| study | strategy | status | s (its own, queueing left out) |", "|---|---|---|---:|"]
    lines += [f"| {r['experiment']} | {r['strategy']} | {r['status']} | {r['seconds']:.0f} |" for r in found["runs"]]
    return lines
