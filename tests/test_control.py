"""Stopping, pausing and resuming runs in progress, whoever started them (core.runs.control and its CLI), on real
processes: a stand-in worker (a sleeping Python process in its own group) holds the runs, as a page's worker does."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import psutil
import pytest

from core.engine import liveness
from core.engine.store import RunStore
from core.runs import __main__ as runs_cli
from core.runs import control


@pytest.fixture
def worker():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
    proc.wait()


def _held(store: RunStore, pid: int, status: str, epochs: int = 4, history: int = 0) -> str:
    run_id = store.create("classification", "mobilenet_v2/finetune", "classification",
                          {"strategy": "finetune", "epochs": epochs})
    if status == "running":
        store._set(run_id, status="running", pid=pid, pid_started=liveness.process_started(pid), started=time.time())
    else:
        store.assign([run_id], pid)
    return run_id


def _status(proc: subprocess.Popen) -> str:
    deadline = time.time() + 5
    while time.time() < deadline:
        status = psutil.Process(proc.pid).status() if proc.poll() is None else "gone"
        if status in (psutil.STATUS_STOPPED, "gone"):
            return status
        time.sleep(0.05)
    return psutil.Process(proc.pid).status()


def test_stop_one_running_run_signals_its_process_and_a_queued_run_behind_it_leaves_the_queue(tmp_path, worker):
    store = RunStore(tmp_path)
    running = _held(store, worker.pid, "running")
    queued = _held(store, worker.pid, "queued")
    lines = control.stop(store, [queued])
    assert lines == [f"{queued}: removed from the queue (it had not started)"]
    with pytest.raises(KeyError):
        store.get(queued)
    assert worker.poll() is None  # the running run's process carries on
    assert control.stop(store, [running]) == [f"{running}: stopping (it keeps its last checkpoint)"]
    assert worker.wait(timeout=5) == -signal.SIGTERM


def test_pause_and_continue_the_processes_of_the_runs_in_progress(tmp_path, worker):
    store = RunStore(tmp_path)
    _held(store, worker.pid, "running")
    assert not control.paused(store)
    assert control.pause(store) == 1
    assert _status(worker) == psutil.STATUS_STOPPED and control.paused(store)
    assert control.resume(store) == 1
    assert not control.paused(store)
    assert control.stop(store)[0].endswith("stopping (it keeps its last checkpoint)")  # a paused one stops too
    assert worker.wait(timeout=5) == -signal.SIGTERM


def test_the_cli_stops_all_and_refuses_an_unclear_request(tmp_path, worker, monkeypatch, capsys):
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(tmp_path))
    store = RunStore(tmp_path)
    orphan = store.create("classification", "mobilenet_v2/finetune", "classification", {"strategy": "scratch"})
    _held(store, worker.pid, "running")
    assert runs_cli.main(["stop"]) == 2 and "name one run, or --all" in capsys.readouterr().err
    assert runs_cli.main(["stop", "--all"]) == 0
    out = capsys.readouterr().out
    assert f"{orphan}: removed from the queue" in out and "stopping" in out
    assert worker.wait(timeout=5) == -signal.SIGTERM
    assert runs_cli.main(["stop", "no-such-run"]) == 2


def test_progress_counts_the_batch_and_its_time_left_from_the_runs_own_pace(tmp_path, worker):
    store = RunStore(tmp_path)
    done = store.create("classification", "mobilenet_v2/scratch", "classification", {"strategy": "scratch"})
    running = _held(store, worker.pid, "running", epochs=4)
    store._set(done, status="done", started=time.time() - 50)
    epoch = {"epoch": 0, "train_loss": 1.0, "val_loss": 1.0, "val": {}, "seconds": 30.0, "trainable": 1,
             "train_accuracy": None, "phase": ""}
    store._set(running, metrics=json.dumps({"history": [epoch]}), started=time.time() - 30)
    p = control.progress(store)
    assert p.total == 2 and p.done == 1
    assert p.fraction == pytest.approx((1 + 1 / 4) / 2)
    assert p.seconds_left == pytest.approx(30.0 * 3, rel=0.05)  # its own pace: a quarter done in 30 s, 90 s to go
    assert p.unknown == 0


def test_a_run_never_run_here_is_estimated_from_the_reference_at_this_machines_pace(tmp_path, worker, monkeypatch):
    monkeypatch.setattr(control, "reference", lambda: {"classification/scratch": 40.0, "regression/frozen": 10.0})
    store = RunStore(tmp_path)
    queued = store.create("regression", "resnet18/frozen", "regression", {"strategy": "frozen", "epochs": 8})
    store.assign([queued], worker.pid)
    done = store.create("classification", "mobilenet_v2/scratch", "classification", {"strategy": "scratch"})
    store._set(done, status="done", started=time.time() - 80)  # twice the reference's 40 s: a slower machine
    p = control.progress(store)
    assert p.total == 2 and p.done == 1 and p.unknown == 0
    assert p.seconds_left == pytest.approx(10.0 * 2, rel=0.02)  # the reference's 10 s at this machine's pace
    monkeypatch.setattr(control, "reference", dict)  # nothing to go by: said, not guessed
    assert control.progress(store).seconds_left is None and control.progress(store).unknown == 1
