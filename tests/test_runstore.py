"""The run lifecycle every trainer shares: statuses, atomic checkpoints, dead processes, damaged files,
an unusable folder and concurrent writers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

from core import registry
from core.data import samples
from core.engine import liveness
from core.engine.events import EpochEnd, Phase
from core.engine.store import DAMAGED, RunStore, RunStoreError
from core.predictors import build

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


def _epoch(n: int) -> EpochEnd:
    return EpochEnd(n, 1.0 / (n + 1), 0.5, {"mCA": 0.1 * n}, 0.01)


def test_a_run_goes_from_queued_to_running_to_done_with_its_events_and_checkpoint():
    store = RunStore()
    run_id = store.create("classification", "mobilenet_v2", "classification", {"strategy": "frozen"})
    assert store.get(run_id).status == "queued"
    with store.recording(run_id) as rec:
        running = store.get(run_id)
        assert running.status == "running" and running.pid == os.getpid()
        rec.event(Phase("reading the data"))
        assert store.get(run_id).metrics["phase"]["name"] == "reading the data"
        rec.event(_epoch(0))
        rec.checkpoint({"w": torch.ones(3)}, "epoch 1")
        rec.event(Phase("scoring the validation split"))  # a last phase after the last epoch ends with the run
        rec.note(seconds=1.5)
    run = store.get(run_id)
    assert run.status == "done" and run.checkpoint_label == "epoch 1" and "phase" not in run.metrics
    assert [e["epoch"] for e in run.history] == [0] and run.metrics["seconds"] == 1.5
    assert torch.equal(torch.load(run.checkpoint, weights_only=True)["w"], torch.ones(3))


@pytest.mark.parametrize(("raised", "status", "message"), [
    (KeyboardInterrupt("stopped by signal 15"), "stopped", "stopped by signal 15"),
    (ValueError("class 'dog' has no training samples"), "failed", "class 'dog' has no training samples"),
])
def test_an_interrupted_or_broken_run_says_how_it_ended(raised, status, message):
    store = RunStore()
    run_id = store.create("classification", "mobilenet_v2", "classification", {})
    with pytest.raises(type(raised)), store.recording(run_id):
        raise raised
    run = store.get(run_id)
    assert (run.status, run.message) == (status, message)


def test_a_checkpoint_is_replaced_whole_and_a_failed_write_keeps_the_last_one(monkeypatch):
    store = RunStore()
    run_id = store.create("classification", "mobilenet_v2", "classification", {})
    with pytest.raises(OSError, match="No space left"), store.recording(run_id) as rec:
        rec.checkpoint({"w": torch.zeros(2)}, "epoch 1")

        def full_disk(obj, f):
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(torch, "save", full_disk)
        rec.checkpoint({"w": torch.ones(2)}, "epoch 2")
    monkeypatch.undo()
    run = store.get(run_id)
    assert run.status == "failed" and "No space left" in run.message and run.checkpoint_label == "epoch 1"
    assert torch.equal(torch.load(run.checkpoint, weights_only=True)["w"], torch.zeros(2))
    assert [p.name for p in Path(run.checkpoint).parent.iterdir()] == [Path(run.checkpoint).name]


def test_a_truncated_or_foreign_checkpoint_is_listed_as_damaged_not_as_a_variant():
    store = RunStore()
    ids = []
    for _ in range(3):
        run_id = store.create("face_detection", "mtcnn/pretrained", "face_detection", {"strategy": "finetuned-pnet"})
        with store.recording(run_id) as rec:
            rec.checkpoint({"pnet": {"w": torch.ones(100)}}, "pnet epoch 1")
        ids.append(run_id)
    cut, foreign, missing = (Path(store.get(i).checkpoint) for i in ids)
    cut.write_bytes(cut.read_bytes()[:200])
    foreign.write_bytes(b"not a checkpoint at all")
    missing.unlink()
    runs = {r.id: r for r in store.list()}
    assert [runs[i].status for i in ids] == [DAMAGED] * 3
    assert "cut short" in runs[ids[0]].message and "not the" in runs[ids[0]].message
    assert "missing" in runs[ids[2]].message
    assert not any(i in name for name in registry.all_variants(store) for i in ids)
    assert store.list("done") == []


def test_a_checkpoint_that_passes_the_listing_but_not_torch_gives_a_message(isolated_env):
    store = RunStore()
    run_id = store.create("face_detection", "mtcnn/pretrained", "face_detection", {"strategy": "finetuned-pnet"})
    with store.recording(run_id) as rec:
        path = rec.checkpoint({"pnet": {}}, "pnet epoch 1")
    import zipfile
    with zipfile.ZipFile(path, "w") as z:  # a zip of the same kind, but not what torch wrote
        z.writestr("data.pkl", b"\x80\x04garbage")
    with store._db() as con:
        con.execute("UPDATE runs SET checkpoint_bytes = ?", (path.stat().st_size,))
    from core.weights import WeightsUnavailable
    with pytest.raises(WeightsUnavailable, match="cannot be loaded"):
        build(registry.variant(f"mtcnn/finetuned-pnet-{run_id}", store), CPU)


def test_a_runs_folder_that_cannot_be_written_gives_one_message(tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the folder should be")
    store = RunStore(blocker / "inner")
    with pytest.raises(RunStoreError, match="cannot be written.*TLDASH_RUNS_DIR"):
        store.check_writable()
    with pytest.raises(RunStoreError, match="cannot be written"):
        store.create("classification", "mobilenet_v2", "classification", {})


def test_a_trainer_killed_mid_run_is_marked_failed_and_its_last_checkpoint_is_a_variant(isolated_env):
    """A real SIGKILL: no handler runs, so only the next reading of the store can tell."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "core.studies.transfer", "--dataset", "fashion_mnist_imbalanced3",
                             "--strategies", "finetune", "--epochs", "200", "--image-size", "32",
                             "--limit-batches", "1", "--batch-size", "16"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = RunStore()
    deadline = time.time() + 120
    while time.time() < deadline and not any(r.checkpoint_label for r in store.list()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    (run,) = store.list()
    assert run.status == "failed", proc.stderr.read().decode()
    assert run.message == f"process {proc.pid} ended without finishing"
    assert run.checkpoint_label.startswith("epoch ")
    name = f"mobilenet_v2/finetune-{run.id}@{run.checkpoint_label.replace(' ', '')}"
    variant = registry.variant(name, store)
    assert f"failed after {run.checkpoint_label}" in variant.description
    (top,) = build(variant, CPU).predict([samples.load_sample("coffee").image])
    assert len(top.labels) == 3


def test_two_processes_writing_at_once_never_see_a_locked_database(isolated_env):
    store = RunStore()
    store.check_writable()
    script = ("import sys; from core.engine.store import RunStore; from core.engine.events import EpochEnd\n"
              "s = RunStore(); i = s.create('classification', 'mobilenet_v2', 'classification', {})\n"
              "with s.recording(i) as rec:\n"
              "    for n in range(150):\n"
              "        rec.event(EpochEnd(n, 0.1, 0.1, {}, 0.0)); s.list()\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stderr=subprocess.PIPE)
             for _ in range(3)]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert [len(r.history) for r in store.list()] == [150, 150, 150]


def test_a_new_store_opened_by_several_threads_at_once_is_set_up_once(tmp_path):
    """Each opener adds the columns the table lacks: without taking turns, two would add the same one."""
    import threading

    errors = []
    for k in range(20):
        gate = threading.Barrier(4)

        def open_store(folder=tmp_path / f"s{k}", gate=gate) -> None:
            gate.wait()
            try:
                RunStore(folder).create("e", "b", "classification", {})
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(repr(exc))
        threads = [threading.Thread(target=open_store) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(RunStore(tmp_path / f"s{k}").list()) == 4  # every opener's run is there
    assert errors == []


def test_runs_wait_their_turn_in_creation_order_up_to_the_limit(tmp_path):
    store = RunStore(tmp_path)
    first, second, third = (store.create("classification", "mobilenet_v2", "classification", {}) for _ in range(3))
    store.assign([first, second, third], os.getpid())
    assert store.claim(first, limit=1) == 0 and store.get(first).status == "running"
    assert (store.claim(third, limit=1), store.claim(second, limit=1)) == (2, 1)  # one at a time: both wait
    assert store.claim(second, limit=2) == 0  # a limit of two lets the next in line start beside it
    assert [r.id for r in store.queue_line()] == [third]


def _waiting_child(run_id: str, env: dict) -> subprocess.Popen:
    script = ("import sys; from core.engine.recording import stop_on_sigterm; from core.engine.store import RunStore\n"
              "stop_on_sigterm(); s = RunStore()\n"
              f"with s.recording({run_id!r}):\n    pass\n")
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stderr=subprocess.PIPE)


def test_a_page_started_run_waits_for_a_slot_shows_its_place_and_is_removed_when_stopped(isolated_env):
    """Processes a page starts (TLDASH_JOB set) wait while another run trains; their place is in their metrics.
    A waiting run that is stopped leaves no row behind; the others start, in order, as slots free up."""
    store = RunStore()
    busy, later, dropped = (store.create("classification", "mobilenet_v2", "classification", {}) for _ in range(3))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TLDASH_JOB": "1", "TLDASH_MAX_RUNNING": "1"}
    with store.recording(busy):  # this process trains: the slot is taken
        procs = [_waiting_child(later, env), _waiting_child(dropped, env)]
        for p, run_id in zip(procs, (later, dropped), strict=True):
            store.assign([run_id], p.pid)
        deadline = time.time() + 60
        while time.time() < deadline and [store.get(i).metrics.get("queue", {}).get("place")
                                          for i in (later, dropped)] != [1, 2]:
            time.sleep(0.2)
        assert [store.get(i).metrics["queue"]["place"] for i in (later, dropped)] == [1, 2]
        assert store.get(later).status == "queued"
        procs[1].send_signal(signal.SIGTERM)  # Stop on the second in line
        assert procs[1].wait(60) != 0
        assert dropped not in {r.id for r in store.list()}
    assert procs[0].wait(60) == 0, procs[0].stderr.read().decode()  # the slot freed: the first in line ran
    run = store.get(later)
    assert run.status == "done" and "queue" not in run.metrics


_SERVER = """
import json, sys, time
from core.studies.transfer import train as transfer
from core.engine.loop import TrainConfig
from core.engine.store import RunStore
from ui import jobs

store = RunStore()
cfg = TrainConfig(image_size=32, epochs=1, limit_batches=1, batch_size=16, workers=0)
started = []
for _ in range(2):  # as a page does: queue, then a process of its own for the run (here one that only waits)
    (run_id,) = transfer.queue("fashion_mnist_imbalanced3", [cfg], store)
    job = jobs.launch([run_id], store=store)  # the one worker, as a page starts it
    started.append([run_id, job.pid])
print(json.dumps(started), flush=True)
time.sleep(600)
"""


def test_the_queue_outlives_the_app_and_the_processes_that_wait_in_it(isolated_env):
    """A server that queued two runs is killed with its process group: the trainers live on in their own sessions,
    waiting in order. A waiting trainer killed as well (a crash, a reboot) leaves its run queued, not failed; the
    app, opened again, starts the worker for it (python -m core.worker, for real); both then end in the order they were
    queued."""
    from streamlit.testing.v1 import AppTest

    store = RunStore()
    busy = store.create("classification", "mobilenet_v2", "classification", {})
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TLDASH_MAX_RUNNING": "1"}
    with store.recording(busy):  # this process trains: the slot is taken
        server = subprocess.Popen([sys.executable, "-c", _SERVER], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  start_new_session=True)
        (first, first_pid), (second, second_pid) = json.loads(server.stdout.readline())
        os.killpg(server.pid, signal.SIGKILL)  # the app dies, and everything in its process group
        server.wait(30)
        deadline = time.time() + 60
        while time.time() < deadline and [store.get(i).metrics.get("queue", {}).get("place")
                                          for i in (first, second)] != [1, 2]:
            time.sleep(0.2)
        assert [store.get(i).metrics["queue"]["place"] for i in (first, second)] == [1, 2]
        assert psutil.pid_exists(first_pid) and psutil.pid_exists(second_pid)
        os.killpg(second_pid, signal.SIGKILL)  # the second's own process is gone too
        deadline = time.time() + 30
        while time.time() < deadline and store.get(second).pid is not None:
            time.sleep(0.2)
        orphan = store.get(second)
        assert (orphan.status, orphan.pid, orphan.message) == ("queued", None, liveness.ORPHANED)
        app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()  # the app, opened again
        assert not app.exception, [e.value for e in app.exception]
        resumed = store.get(second)
        assert resumed.pid not in (None, second_pid) and resumed.message == "" and resumed.status == "queued"
        assert [r.id for r in store.queue_line()] == [first, second]
    deadline = time.time() + 180  # the slot is free: the first in line trains, then the second
    while time.time() < deadline and {store.get(i).status for i in (first, second)} != {"done"}:
        time.sleep(0.5)
    a, b = store.get(first), store.get(second)
    assert (a.status, b.status) == ("done", "done"), (a.message, b.message)
    assert a.started < b.started and b.started >= a.updated - 1


def test_when_a_run_of_a_job_fails_the_runs_after_it_still_go(isolated_env):
    from core.engine.store import carry_out

    store = RunStore()
    first, later = (store.create("classification", "mobilenet_v2", "classification", {}) for _ in range(2))

    def train_one(run):
        with store.recording(run.id) as rec:
            if run.id == first:
                raise ValueError("unknown backbone 'x'")
            rec.note(seconds=1.0)
        yield run.id  # a generator, as the trainers' are
    with pytest.raises(ValueError, match="unknown backbone"):  # the first failure, once the others are through
        list(carry_out([first, later], store, train_one))
    assert [(store.get(i).status, store.get(i).message) for i in (first, later)] == [
        ("failed", "unknown backbone 'x'"), ("done", "")]
