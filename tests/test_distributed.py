"""The transfer trainer under torchrun: two CPU processes (gloo) take the same steps as one."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.train.runstore import RunStore

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--dataset", "lfw_subset", "--strategies", "frozen", "--epochs", "3", "--batch-size", "16",
        "--image-size", "32", "--no-class-weights"]
TOLERANCE = 1e-5  # float sums in another order; nothing else differs


def _train(runs: Path, processes: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "TLDASH_RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1"}
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    return subprocess.run([sys.executable, *launcher, "-m", "core.train.transfer", *ARGS, "--cpu"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)


def test_two_processes_reach_the_metrics_of_one_and_only_rank_0_records(tmp_path, monkeypatch, capsys):
    from core.train import transfer

    two = _train(tmp_path / "two", 2)
    assert two.returncode == 0, two.stderr[-2000:]
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(tmp_path / "one"))  # one process: this one, the same main()
    assert transfer.main([*ARGS, "--cpu"]) == 0, capsys.readouterr().err[-2000:]
    assert two.stdout.count('"event": "Finished"') == 1  # rank 1 trained its share and printed nothing
    (a,), (b,) = RunStore(tmp_path / "one").list(), RunStore(tmp_path / "two").list()  # one run each: rank 0's
    assert (a.metrics["world_size"], b.metrics["world_size"]) == (1, 2)
    from core import runs as catalogue

    assert catalogue.row(b).processes == 2  # the Runs page's "processes" column
    assert len(a.history) == len(b.history) == 3
    for x, y in zip(a.history, b.history, strict=True):
        assert x["train_loss"] == pytest.approx(y["train_loss"], abs=TOLERANCE)
        assert x["train_accuracy"] == pytest.approx(y["train_accuracy"], abs=TOLERANCE)
        assert x["val"] == pytest.approx(y["val"], abs=TOLERANCE)
    with np.load(Path(a.checkpoint).with_suffix(".npz")) as fa, np.load(Path(b.checkpoint).with_suffix(".npz")) as fb:
        assert np.array_equal(fa["index"], fb["index"])
        np.testing.assert_allclose(fa["outputs"], fb["outputs"], atol=TOLERANCE)


def test_a_batch_that_does_not_split_evenly_is_refused(monkeypatch):
    from core.train import distributed

    assert distributed.per_process_batch(15) == 15  # one process: the whole batch
    monkeypatch.setattr(distributed, "world", lambda: 2)
    assert distributed.per_process_batch(16) == 8
    with pytest.raises(ValueError, match="batch size 15 does not divide among 2 processes: choose a multiple of 2"):
        distributed.per_process_batch(15)
