"""`make prepare` timed: each page's variants and baselines trained from an empty runs folder, as a fresh install does
on its first `make run`, through the run queue (one run at a time on the CPU); meanwhile the Home page's time left
(core.runs.control.progress) is sampled and set against the time it really took; then each page's cold and warm
time to its main result in Chromium (bench.pages). The runs' times become the reference the time left starts from
(core/runs/reference_times.json)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import pages
from core.engine.store import RunStore
from core.runs import control

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_EVERY = 10.0  # seconds between two readings of the time left


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as folder:
        env = {**os.environ, "TLDASH_RUNS_DIR": folder, "TLDASH_MAX_RUNNING": "1"}
        begun, start = time.time(), time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "core.runs", "prepare"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        store, samples = RunStore(folder), []
        while proc.poll() is None:
            time.sleep(SAMPLE_EVERY)
            try:
                p = control.progress(store)
            except Exception:  # noqa: BLE001 - a reading during a write: the next one counts
                continue
            if p is not None:
                samples.append({"at": time.time() - begun, "left": p.seconds_left, "fraction": p.fraction})
        wall = time.perf_counter() - start
        runs = RunStore(folder).list()
        ended = max((r.updated for r in runs), default=begun) - begun  # the last run's end (warming comes after)
        timed = pages.run(folder)
    return {"wall_s": wall, "exit": proc.returncode, "cpu_threads": os.cpu_count(), "trained_s": ended,
            "estimates": samples, "pages": timed,
            "runs": [{"experiment": r.experiment, "strategy": str(r.config.get("strategy") or r.config.get("start")),
                      "status": r.status, "seconds": r.seconds} for r in runs]}


def accuracy(found: dict) -> dict | None:
    """The time left against the time it really took, over the readings with more than a minute to go: the median
    error and the share within 25 %."""
    errors = [abs(s["left"] - (found["trained_s"] - s["at"])) / (found["trained_s"] - s["at"])
              for s in found.get("estimates", []) if s["left"] is not None and found["trained_s"] - s["at"] > 60]
    if not errors:
        return None
    return {"readings": len(errors), "median_error": statistics.median(errors),
            "within_25": sum(e <= 0.25 for e in errors) / len(errors)}


def reference(found: dict, path: Path = control.REFERENCE) -> None:
    """Keep the runs' times as the reference the Home page's time left starts from."""
    about = json.loads(path.read_text()).get("about", "") if path.is_file() else ""
    path.write_text(json.dumps({"about": about, "runs": {f"{r['experiment']}/{r['strategy']}": round(r["seconds"], 1)
                                                         for r in found["runs"] if r["status"] == "done"}}, indent=1))


def markdown(found: dict | None) -> list[str]:
    lines = ["", "## Ready for a talk (`make prepare`)", ""]
    if not found:
        return lines + ["Not measured yet: `python -m bench prepare`."]
    lines += [f"Each page's variants and baselines ({len(found['runs'])} runs) from an empty runs folder: "
              f"**{found['wall_s'] / 60:.1f} min** wall "
              f"(exit {found['exit']}), runs one at a time, {found['cpu_threads']} CPU threads; the target is 15 min.",
              "", "| study | strategy | status | s (its own, queueing left out) |", "|---|---|---|---:|"]
    lines += [f"| {r['experiment']} | {r['strategy']} | {r['status']} | {r['seconds']:.0f} |" for r in found["runs"]]
    right = accuracy(found) if "trained_s" in found else None
    if right:
        lines += ["", f"Home's time left, read every {SAMPLE_EVERY:.0f} s against the time the runs really took "
                  f"({right['readings']} readings with over a minute to go): median error "
                  f"**{right['median_error']:.0%}**, **{right['within_25']:.0%}** of readings within 25 %."]
    return lines + pages.markdown(found.get("pages"))
