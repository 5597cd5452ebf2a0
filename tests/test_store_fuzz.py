"""Fuzzed run store: random event streams (NaN, ±inf, huge and tiny floats, numpy and torch scalars, unicode names
and messages, empty histories) are recorded while two other processes read the same store; after every write the
CLI's list and show, the Runs page's rows, the registry and the finals read every run, and what was written reads
back as written.

The suite runs FUZZ_EXAMPLES examples (TLDASH_FUZZ_EXAMPLES sets more, for a long run)."""

import contextlib
import io
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import numbers, registry
from core import runs as runlist
from core.engine.events import EpochEnd, Phase
from core.engine.store import RunStore
from core.runs import __main__ as runs_cli
from core.runs import finals
from ui import runs_view

ROOT = Path(__file__).resolve().parents[1]
FUZZ_EXAMPLES = int(os.environ.get("TLDASH_FUZZ_EXAMPLES", "15"))

# Another process, reading whichever store the test is writing (named in the file `current`) until `stop` appears.
READER = """
import sys, time, traceback
from pathlib import Path
from core import registry
from core import runs as runlist
from core.runs import finals
from core.engine.store import RunStore
root = Path(sys.argv[1]); reads = 0
(root / f"ready-{sys.argv[2]}").touch()
while not (root / "stop").exists():
    current = root / "current"
    if current.exists() and current.read_text():
        try:
            store = RunStore(current.read_text())
            runs = store.list(); runlist.rows(store); registry.all_variants(store)
            for run in runs:
                finals.of(run, n_boot=20)
            reads += 1
            (root / f"read-{sys.argv[2]}").touch()
        except Exception:
            (root / f"error-{reads}-{time.time()}.txt").write_text(traceback.format_exc())
    time.sleep(0.02)
(root / f"reads-{sys.argv[2]}").write_text(str(reads))
"""

finite = st.floats(allow_nan=False, allow_infinity=False)
special = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -5e-324, 1e-300, 0.0, -0.0])
floats = st.one_of(special, finite)
texts = st.text(max_size=16)  # any unicode but lone surrogates
scalars = st.one_of(
    floats, floats.map(np.float64), st.integers(-2**40, 2**40).map(np.int64), st.integers(-2**31, 2**31),
    floats.map(lambda x: torch.tensor(x, dtype=torch.float64)), texts.map(numbers.Undefined))
metrics_dict = st.dictionaries(st.text(min_size=1, max_size=10), scalars, max_size=4)
epoch = st.builds(lambda loss, val_loss, val, seconds, losses: ("epoch", loss, val_loss, val, seconds, losses),
                  scalars, st.one_of(st.none(), scalars), metrics_dict, scalars, metrics_dict)
phase = st.builds(lambda name, done, total: ("phase", name, done, total), texts, st.integers(0, 99), st.integers(0, 99))
note = st.builds(lambda key, value: ("note", key, value), st.sampled_from(["seconds", "world_size", "speed", "ß"]),
                 scalars)
final = st.builds(lambda name, value, low, high, over: ("final", name, value, low, high, over),
                  texts, scalars, scalars, scalars, texts)
streams = st.lists(st.one_of(epoch, phase, note, final, st.just(("checkpoint",))), max_size=5)
runs_strategy = st.fixed_dictionaries({
    "experiment": st.sampled_from(["classification", "regression", "face_detection", "face_verification",
                                   "object_detection", "feature_extraction", "a study this version lacks"]),
    "name": texts, "message": texts, "end": st.sampled_from(["done", "stopped", "failed", "open"]),
    "config": st.dictionaries(texts, scalars, max_size=3), "events": streams})


def _same(read: object, written: object) -> bool:
    """A number reads back as the number written: NaN as NaN (with its reason), numpy and torch as floats."""
    if isinstance(written, torch.Tensor):
        written = written.item()
    if isinstance(written, float) and math.isnan(written):
        return isinstance(read, float) and math.isnan(read) and numbers.reason(read) == numbers.reason(written)
    return read == written and isinstance(read, int | float)


def _check_every_reader(store: RunStore, ids: list[str]) -> None:
    listed = {r.id: r for r in store.list()}
    assert set(ids) <= set(listed)
    rows = runlist.rows(store)
    assert set(ids) <= {r.id for r in rows}
    assert len(runs_view.frame(rows)) == len(listed)  # the Runs page's table
    registry.all_variants(store)
    for run in listed.values():
        for f in finals.of(run, n_boot=20):
            assert isinstance(f.text(), str)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert runs_cli.main(["list"]) == 0
        assert runs_cli.main(["show", ids[-1]]) == 0
        assert runs_cli.main(["list", "--json"]) == 0
    assert all(i in out.getvalue() for i in ids) and not err.getvalue()
    shown = out.getvalue().split("\n[\n", 1)[1]  # the --json list parses as strict JSON (no bare NaN)
    json.loads("[\n" + shown, parse_constant=lambda word: pytest.fail(f"bare {word} in --json"))


@pytest.fixture
def readers(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", READER, str(tmp_path), str(k)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}) for k in range(2)]
    deadline = time.time() + 60
    while not all((tmp_path / f"ready-{k}").exists() for k in range(2)) and time.time() < deadline:
        time.sleep(0.1)  # their imports done: they read from the first write on
    yield tmp_path
    deadline = time.time() + 60  # on a loaded machine a reader may still be on its first read: let it finish one
    while not all((tmp_path / f"read-{k}").exists() for k in range(2)) and time.time() < deadline:
        time.sleep(0.1)
    (tmp_path / "stop").touch()
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    errors = sorted(tmp_path.glob("error-*.txt"))
    assert not errors, errors[0].read_text()
    assert all(int((tmp_path / f"reads-{k}").read_text()) > 0 for k in range(2))  # they did read, throughout


def test_random_event_streams_never_stop_any_reader_and_read_back_as_written(readers, monkeypatch):
    counter = iter(range(10**9))

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(runs_strategy, min_size=1, max_size=3))
    def record(specs):
        folder = readers / f"store-{next(counter)}"
        monkeypatch.setenv("TLDASH_RUNS_DIR", str(folder))
        store = RunStore(folder)
        store.check_writable()
        (readers / "current").write_text(str(folder))
        ids = []
        for spec in specs:
            run_id = store.create(spec["experiment"], "mobilenet_v2", spec["experiment"],
                                  {"strategy": "finetune", "epochs": 2, **spec["config"]})
            ids.append(run_id)
            store.label(run_id, name=spec["name"])
            _check_every_reader(store, ids)
            try:
                with store.recording(run_id) as rec:
                    for n, event in enumerate(spec["events"]):
                        _record(rec, event, n)
                        _check_every_reader(store, ids)
                        _check_read_back(store.get(run_id), event)
                    if spec["end"] == "stopped":
                        raise KeyboardInterrupt(spec["message"])
                    if spec["end"] == "failed":
                        raise RuntimeError(spec["message"])
            except (KeyboardInterrupt, RuntimeError):
                pass
            _check_every_reader(store, ids)
        time.sleep(0.01)  # let the readers see this store too
    record()


def _record(rec, event: tuple, n: int) -> None:
    kind = event[0]
    if kind == "epoch":
        _, loss, val_loss, val, seconds, losses = event
        rec.event(EpochEnd(n, loss, val_loss, val, seconds, losses=losses))
    elif kind == "phase":
        rec.event(Phase(*event[1:]))
    elif kind == "note":
        rec.note(**{event[1]: event[2]})
    elif kind == "final":
        _, name, value, low, high, over = event
        rec.note(final={name: {"value": value, "ci95": [low, high], "over": over}})
    else:
        rec.checkpoint({"w": torch.ones(2)}, f"epoch {n + 1}")


def _check_read_back(run, event: tuple) -> None:
    if event[0] == "epoch":
        _, loss, val_loss, val, seconds, losses = event
        last = run.history[-1]
        assert _same(last["train_loss"], loss) and _same(last["seconds"], seconds)
        assert val_loss is None and last["val_loss"] is None or _same(last["val_loss"], val_loss)
        assert set(last["val"]) == set(val) and all(_same(last["val"][k], v) for k, v in val.items())
        assert all(_same(last["losses"][k], v) for k, v in losses.items())
    elif event[0] == "final":
        entry = run.metrics["final"][event[1]]
        assert _same(entry["value"], event[2]) and _same(entry["ci95"][0], event[3])
