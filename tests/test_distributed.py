"""The transfer trainer under torchrun: two CPU processes (gloo) take the same steps as one."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.engine.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--dataset", "lfw_subset", "--strategies", "frozen", "--epochs", "3", "--batch-size", "16",
        "--image-size", "32", "--no-class-weights"]
TOLERANCE = 1e-5  # float sums in another order; nothing else differs


def _train(runs: Path, processes: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "TLDASH_RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1"}
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    return subprocess.run([sys.executable, *launcher, "-m", "core.studies.transfer", *ARGS, "--cpu"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)


def test_two_processes_reach_the_metrics_of_one_and_only_rank_0_records(tmp_path, monkeypatch, capsys):
    from core.studies.transfer import __main__ as transfer

    two = _train(tmp_path / "two", 2)
    assert two.returncode == 0, two.stderr[-2000:]
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(tmp_path / "one"))  # one process: this one, the same main()
    assert transfer.main([*ARGS, "--cpu"]) == 0, capsys.readouterr().err[-2000:]
    assert two.stdout.count('"event": "Finished"') == 1  # rank 1 trained its share and printed nothing
    (a,), (b,) = RunStore(tmp_path / "one").list(), RunStore(tmp_path / "two").list()  # one run each: rank 0's
    assert (a.metrics["world_size"], b.metrics["world_size"]) == (1, 2)
    from core import runs as runlist

    assert runlist.row(b).processes == 2  # the Runs page's "processes" column
    assert len(a.history) == len(b.history) == 3
    for x, y in zip(a.history, b.history, strict=True):
        assert x["train_loss"] == pytest.approx(y["train_loss"], abs=TOLERANCE)
        assert x["train_accuracy"] == pytest.approx(y["train_accuracy"], abs=TOLERANCE)
        assert x["val"] == pytest.approx(y["val"], abs=TOLERANCE)
    with np.load(Path(a.checkpoint).with_suffix(".npz")) as fa, np.load(Path(b.checkpoint).with_suffix(".npz")) as fb:
        assert np.array_equal(fa["index"], fb["index"])
        np.testing.assert_allclose(fa["outputs"], fb["outputs"], atol=TOLERANCE)


def test_a_batch_that_does_not_split_evenly_is_refused(monkeypatch):
    from core.engine import distributed

    assert distributed.per_process_batch(15) == 15  # one process: the whole batch
    monkeypatch.setattr(distributed, "world", lambda: 2)
    assert distributed.per_process_batch(16) == 8
    with pytest.raises(ValueError, match="batch size 15 does not divide among 2 processes: choose a multiple of 2"):
        distributed.per_process_batch(15)


_PAIRS_STEP = """
import json
import torch
from core.engine import distributed
from core.engine import objectives

device = distributed.init(torch.device("cpu"))
x = torch.randn(16, 6, generator=torch.Generator().manual_seed(1))
people = torch.arange(8).repeat_interleave(2)  # two images of each of 8 people
order = distributed.ShardedBatches(torch.utils.data.SequentialSampler(range(16)), 8)  # batches of 8 images
mine, per_step = list(order), 8 // distributed.world()
out = {}
for loss_name in ("bce", "contrastive"):
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 4)
    objective = objectives.Verification(4, loss_name, "euclidean")
    step, out[loss_name] = distributed.wrap(model, device), []
    for k in range(0, len(mine), per_step):
        rows = torch.tensor(mine[k:k + per_step])
        model.zero_grad()
        loss = objective.loss(step(x[rows]), people[rows])
        loss.backward()
        out[loss_name].append({"rows": rows.tolist(), "loss": loss.item(), "grad": model.weight.grad.flatten().tolist()})
if distributed.is_main():
    print(json.dumps(out))
del step  # the DDP module goes before the group does (see distributed.close)
distributed.close()
"""


def test_a_loss_over_every_pair_of_the_batch_trains_as_one_process_when_sliced_among_two(tmp_path, capsys):
    """Face verification's losses compare every pair of a step's batch, so each process's slice alone would lose the
    pairs across slices: the slices are gathered (gradients flowing back to their own process) and DDP's average
    then gives one process's gradient, for the BCE and the contrastive loss."""
    import json
    import runpy

    script = tmp_path / "pairs_step.py"
    script.write_text(_PAIRS_STEP)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    two = json.loads(done.stdout.strip().splitlines()[-1])
    runpy.run_path(str(script), run_name="__main__")  # one process: this one (no torchrun, so no group)
    one = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in ("bce", "contrastive"):
        assert [s["rows"] for s in one[name]] == [list(range(8)), list(range(8, 16))]
        assert [s["rows"] for s in two[name]] == [[0, 1, 2, 3], [8, 9, 10, 11]]  # rank 0's slice of each batch
        for a, b in zip(one[name], two[name], strict=True):
            assert a["loss"] == pytest.approx(b["loss"], abs=TOLERANCE)
            np.testing.assert_allclose(a["grad"], b["grad"], atol=TOLERANCE)


def test_face_verification_trains_under_torchrun_and_only_rank_0_records(tmp_path):
    env = {**os.environ, "TLDASH_RUNS_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
                           "core.studies.face_verification", "--preset", "phase1", "--epochs", "1", "--batch-size", "16",
                           "--image-size", "32", "--cpu"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('"event": "Finished"') == 1  # rank 1 trained its slices and printed nothing
    (run,) = RunStore(tmp_path).list()
    assert (run.status, run.metrics["world_size"], len(run.history)) == ("done", 2, 1)
    assert 0 <= run.metrics["final"]["test AUC"]["value"] <= 1
