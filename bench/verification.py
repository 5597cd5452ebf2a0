"""Face verification at scale: the ROC of every pair of N embeddings, counted in blocks, against holding
every pair's distance and scoring them with scikit-learn. Each measure runs in its own process, so its
peak memory is its own: sampled every 2 ms, minus the process's memory just before the call."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

LFW_TEST_IMAGES = 3708  # the LFW test people's images in the study: 6,872,778 pairs
LARGE = 20_000
DIMS = (128, 1000)  # dlib's descriptor, an ImageNet output
REPEATS = 3

CHILD = r"""
import json, os, sys, threading, time
import numpy as np, psutil
n, dim, how, repeats = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
from core.metrics import verification
rng = np.random.default_rng(0)
people = rng.integers(0, n // 2, n)  # about two images a person, as in LFW
centres = rng.standard_normal((n // 2, dim), dtype=np.float32)
emb = centres[people] + 2.5 * rng.standard_normal((n, dim), dtype=np.float32)  # an AUC well below 1
del centres
proc = psutil.Process()
def run():
    if how == "blocked":
        found = verification.all_pairs_roc(emb, people, "euclidean")
        return verification.auc(found.roc), found.n_pairs
    from sklearn.metrics import roc_auc_score
    i, j = np.triu_indices(n, 1)
    d = np.linalg.norm(emb[i] - emb[j], axis=1)
    return float(roc_auc_score(people[i] == people[j], -d)), len(d)
import torch  # loaded before measuring: its import is not the computation's memory
emb_all, people_all, n_all = emb, people, n
emb, people, n = emb[:500], people[:500], 500
run()  # warm-up on a small set (torch threads, allocator)
emb, people, n = emb_all, people_all, n_all
times, peaks = [], []
for _ in range(repeats):
    base, peak, done = proc.memory_info().rss, [0], [False]
    def watch():
        while not done[0]:
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.002)
    t = threading.Thread(target=watch); t.start()
    start = time.perf_counter(); auc, pairs = run(); times.append(time.perf_counter() - start)
    done[0] = True; t.join()
    peaks.append((max(peak[0], proc.memory_info().rss) - base) / 2**20)
print(json.dumps({"times": times, "extra_mb": max(peaks), "auc": auc, "pairs": pairs}))
"""


def _measure(n: int, dim: int, how: str, repeats: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(dim), how, str(repeats)], capture_output=True,
                         text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {"embeddings": n, "dim": dim, "method": how, "pairs": r["pairs"], "median_s": statistics.median(r["times"]),
            "runs": len(r["times"]), "peak_extra_mb": r["extra_mb"], "auc": r["auc"]}


def all_pairs() -> list[dict]:
    rows = [_measure(LFW_TEST_IMAGES, dim, "blocked", REPEATS) for dim in DIMS]
    rows.append(_measure(LFW_TEST_IMAGES, DIMS[0], "sklearn, all pairs held", REPEATS))
    rows += [_measure(LARGE, dim, "blocked", 1) for dim in DIMS]
    return rows
