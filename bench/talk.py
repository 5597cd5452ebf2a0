"""The talk export timed: `python -m core.talk` over every study from a prepared runs folder, in a fresh process
each time (imports included), one export and then `repeats` more in a row. What the first finds uncached on disk
(MTCNN's cascades, feature caches) it computes and keeps; the others read it. The file sizes and slide count
beside them."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.engine.store import RunStore
from core.files import runs_dir

ROOT = Path(__file__).resolve().parents[1]
FOLDER_ENV = "BENCH_PREPARED_DIR"  # a runs folder `make prepare` filled; default: the project's runs folder


def _export(folder: str, out: str) -> dict:
    env = {**os.environ, "TLDASH_RUNS_DIR": folder}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "core.talk", "--out", out, "--cpu"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    last = done.stdout.strip().splitlines()[-1]  # "26 slides in 21.4 s (evidence 15.9 s, html 0.2 s, …)"
    steps = dict(re.findall(r"(\w+) ([\d.]+) s", last[last.index("("):]))
    slides = int(re.match(r"(\d+) slides", last)[1])
    return {"wall_s": wall, "slides": slides, **{f"{k}_s": float(v) for k, v in steps.items()}}


def run(repeats: int = 3) -> dict:
    folder = os.environ.get(FOLDER_ENV) or str(runs_dir())
    done = [r for r in RunStore(folder).list("done")]
    if not done:
        raise SystemExit(f"{folder} has no finished runs: `TLDASH_RUNS_DIR={folder} make prepare` first")
    with tempfile.TemporaryDirectory(prefix="bench-talk-") as out:
        first = _export(folder, out)
        again = [_export(folder, out) for _ in range(repeats)]
        sizes = {p.name: p.stat().st_size for p in Path(out).iterdir() if p.name.startswith("talk.")}
    median = {k: statistics.median(r[k] for r in again) for k in again[0] if k.endswith("_s")}
    return {"runs_folder_runs": len(done), "cpu_threads": os.cpu_count(), "first": first, "repeats": repeats,
            "cached_median": median, "slides": first["slides"], "bytes": sizes}


def markdown(found: dict | None) -> list[str]:
    lines = ["", "## The talk export (`python -m core.talk`)", ""]
    if not found:
        return lines + ["Not measured yet: `python -m bench talk` (after `make prepare`)."]
    m, f = found["cached_median"], found["first"]
    steps = [k for k in m if k != "wall_s"]
    lines += [f"All studies from a prepared runs folder ({found['runs_folder_runs']} finished runs), "
              f"{found['slides']} slides, {found['cpu_threads']} CPU threads; each export a fresh process, imports "
              f"included: one export, then the median of {found['repeats']} more in a row (the first computes and "
              "keeps on disk what it finds uncached: MTCNN's cascades, feature caches; when an earlier export kept "
              "them already, the first reads them too):", "",
              "| export | wall s | " + " | ".join(s.removesuffix("_s") + " s" for s in steps) + " |",
              "|---|---:|" + "---:|" * len(steps),
              "| first | " + f"{f['wall_s']:.1f} | " + " | ".join(f"{f.get(s, 0):.1f}" for s in steps) + " |",
              "| then (median) | " + f"{m['wall_s']:.1f} | " + " | ".join(f"{m[s]:.1f}" for s in steps) + " |",
              "", "Files: " + ", ".join(f"{n} {b / 1e6:.2f} MB" for n, b in sorted(found["bytes"].items())) + "."]
    return lines
