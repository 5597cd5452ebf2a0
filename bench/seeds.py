"""Repeat ×N timed: N replicates of one setting queued together and carried out by one worker through the run queue
(what "Repeat ×N" and `--seeds N` do), against the same N runs each started as a run of its own (N× one run), in
fresh runs folders, interleaved; and how much of each wall time is the runs' own training."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from core.engine import seeding
from core.engine.store import RunStore
from core.studies import index
from core.studies.transfer import train as transfer

ROOT = Path(__file__).resolve().parents[1]
N = 3
SETTING = replace(transfer.QUICK["classification"], epochs=1)  # the quick fine-tune, one epoch: about 15 s a run on 2 CPU threads


def _worker(run_ids: list[str], folder: str) -> float:
    env = {**os.environ, "TLDASH_RUNS_DIR": folder, "TLDASH_JOB": "1", "TLDASH_MAX_RUNNING": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "core.worker", "--runs", *run_ids, "--cpu"], cwd=ROOT, env=env,
                   capture_output=True, check=True)
    return time.perf_counter() - start


def _once(together: bool) -> dict:
    study = index.get("classification")
    with tempfile.TemporaryDirectory(prefix="bench-seeds-") as folder:
        store = RunStore(folder)
        ids = [i for c in seeding.seeded(SETTING.with_strategy("finetune"), N) for i in study.queue(c, store)]
        wall = _worker(ids, folder) if together else sum(_worker([i], folder) for i in ids)
        own = [store.get(i).seconds for i in ids]
        assert all(store.get(i).status == "done" for i in ids), [store.get(i).message for i in ids]
        return {"wall_s": wall, "runs_own_s": sum(own)}


def run(repeats: int = 2) -> dict:
    rows: dict[str, list[dict]] = {"queued together": [], "one at a time": []}
    for _ in range(repeats):  # interleaved: the machine's load falls on both alike
        rows["queued together"].append(_once(True))
        rows["one at a time"].append(_once(False))
    out = {"n": N, "repeats": repeats, "setting": {"backbone": SETTING.backbone, "image_size": SETTING.image_size,
                                                    "epochs": SETTING.epochs, "strategy": "finetune"}}
    for name, found in rows.items():
        wall = statistics.median(r["wall_s"] for r in found)
        own = statistics.median(r["runs_own_s"] for r in found)
        out[name] = {"wall_s": wall, "runs_own_s": own, "overhead_per_run_s": (wall - own) / N}
    out["ratio"] = out["queued together"]["wall_s"] / out["one at a time"]["wall_s"]
    return out


def markdown(found: dict | None) -> list[str]:
    lines = ["", "## Repeat ×N (replicates through the run queue)", ""]
    if not found:
        return lines + ["Not measured yet: `python -m bench seeds`."]
    s = found["setting"]
    lines += [f"{found['n']} seeds of {s['strategy']} ({s['backbone']}, {s['image_size']} px, {s['epochs']} epoch) on "
              f"the imbalanced Fashion-MNIST set, 2 CPU threads, fresh runs folders, medians of {found['repeats']} "
              "interleaved repeats. Overhead: wall time less the runs' own recorded seconds (process start, imports, "
              "reading the data, the queue), per run.", "",
              "| how | wall s | runs' own s | overhead per run s |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {found[name]['wall_s']:.1f} | {found[name]['runs_own_s']:.1f} | "
              f"{found[name]['overhead_per_run_s']:.1f} |" for name in ("queued together", "one at a time")]
    return lines + ["", f"Queued together / one at a time: {found['ratio']:.2f}."]
