"""Numbers JSON cannot hold, and rows that cannot be read, never take the run store down: NaN, ±inf, numpy and
torch scalars round-trip; a damaged row is listed as damaged and the rest read; a store that is not SQLite gives
one message."""

import contextlib
import io
import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core import numbers, registry
from core import runs as runlist
from core.engine import launch as launcher
from core.engine import store as runstore
from core.engine.events import EpochEnd
from core.engine.store import DAMAGED, RunStore
from core.runs import __main__ as runs_cli
from core.runs import finals, prepare

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = runs_cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


def _constant_epoch(epoch: int = 0) -> EpochEnd:
    """A scratch regressor's first epoch: every prediction the same, so its correlations are undefined."""
    from core.metrics import regression

    r = regression.evaluate(np.array([20.0, 31.0, 45.0]), np.full(3, 30.0))
    return EpochEnd(epoch, np.float32(12.5), 11.0, {"MAE": r.mae, "pearson": r.pearson, "spearman": r.spearman},
                    torch.tensor(2.0).item(), trainable=np.int64(1000))


def test_an_active_run_with_a_nan_metric_leaves_the_store_open_listed_and_resumable(monkeypatch):
    store = RunStore()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    waiting = store.create("regression", "mobilenet_v2", "regression", {"strategy": "scratch", "epochs": 3})
    store.assign([waiting], gone.pid)  # its process ended before it began: resumable
    with store._db() as con:  # what the previous version wrote for a NaN: the bare token, which SQLite rejects
        con.execute("UPDATE runs SET metrics = ? WHERE id = ?", ('{"queue": {"place": NaN}, "resumed": 1}', waiting))
    training = store.create("regression", "mobilenet_v2", "regression", {"strategy": "scratch", "epochs": 3})
    with store.recording(training) as rec:
        rec.event(_constant_epoch())
        listed = {r.id: r for r in store.list()}  # this read failed: "malformed JSON"
        assert listed[training].status == "running" and listed[waiting].status == "queued"
        val = listed[training].history[0]["val"]
        assert math.isnan(val["pearson"]) and numbers.text(val["pearson"]) == "undefined (constant predictions)"
        assert val["MAE"] == pytest.approx(np.mean([10, 1, 15]))
        code, out, err = _cli("list")
        assert code == 0 and training in out and waiting in out and not err
        monkeypatch.setattr(launcher, "launch", lambda ids, store, why: type("P", (), {"pid": 1})())
        assert [ids for _, ids, _ in prepare.resume(store)] == [[waiting]]
        assert store.get(waiting).metrics["resumed"] == 2  # counted on from the old row's 1
        with store._db() as con:
            stored = con.execute("SELECT metrics FROM runs WHERE id = ?", (training,)).fetchone()[0]
            assert "NaN" not in stored and con.execute("SELECT json_valid(metrics) FROM runs").fetchall() == [(1,), (1,)]
    assert store.get(training).status == "done"


def test_nan_inf_numpy_and_torch_scalars_round_trip_with_their_reasons():
    values = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "f32": np.float32(0.25), "i64": np.int64(7),
              "t": torch.tensor(1.5), "t0": torch.tensor([3]), "arr": np.array([1.0, np.nan]), "big": 1e308,
              "tiny": 5e-324, "why": numbers.Undefined("constant predictions"), "text": "NaN", "flag": True,
              "none": None, "ß€😀": {"nested": (1, np.float64(-0.0))}}
    back = numbers.loads(numbers.dumps(values))
    assert math.isnan(back["nan"]) and back["inf"] == math.inf and back["-inf"] == -math.inf
    assert back["f32"] == 0.25 and back["i64"] == 7 and back["t"] == 1.5 and back["t0"] == [3]
    assert back["arr"][0] == 1.0 and math.isnan(back["arr"][1])
    assert back["big"] == 1e308 and back["tiny"] == 5e-324 and back["text"] == "NaN" and back["flag"] is True
    assert back["none"] is None and back["ß€😀"] == {"nested": [1, -0.0]}
    assert numbers.reason(back["why"]) == "constant predictions" and numbers.reason(back["nan"]) == ""
    assert numbers.public(numbers.loads(numbers.dumps({"a": math.nan, "b": [math.inf, 1]}))) == {"a": None,
                                                                                                "b": [None, 1]}
    assert [numbers.text(v) for v in (math.nan, math.inf, "abc", 0.5)] == \
        ["undefined", "∞", "undefined (not a number: 'abc')", "0.500"]
    with pytest.raises(TypeError, match="cannot store a object"):
        numbers.dumps({"x": object()})


def test_a_damaged_row_is_listed_as_such_and_every_other_run_reads(tmp_path):
    store = RunStore()
    ids = {name: store.create("regression", "mobilenet_v2", "regression", {"strategy": "frozen", "epochs": 1})
           for name in ("good", "bad_json", "bad_config", "bad_history", "string_metric")}
    for run_id in ids.values():
        with store.recording(run_id) as rec:
            rec.event(EpochEnd(0, 1.0, 0.9, {"pearson": 0.5}, 1.0))
    with store._db() as con:
        edit = {"bad_json": ("metrics", '{"history": [{"epoch": 0, '),
                "bad_config": ("config", "[1, 2"),
                "bad_history": ("metrics", '{"history": {"epoch": 0}}'),
                "string_metric": ("metrics", '{"history": [{"epoch": 0, "train_loss": "high", "val_loss": 0.9, '
                                             '"val": {"pearson": "0.5?"}, "seconds": 1.0}], "seconds": "long"}')}
        for name, (column, text) in edit.items():
            con.execute(f"UPDATE runs SET {column} = ? WHERE id = ?", (text, ids[name]))
    runs = {r.id: r for r in store.list()}
    assert len(runs) == 5 and runs[ids["good"]].status == "done"
    for name, why in (("bad_json", "its metrics are not JSON"), ("bad_config", "its config cannot be read"),
                      ("bad_history", "its history is not a list of epochs")):
        assert runs[ids[name]].status == DAMAGED and runs[ids[name]].message.startswith("done, but " + why)
    odd = runs[ids["string_metric"]]  # a string where a number belongs reads as undefined, saying what was there
    assert odd.status == "done" and numbers.text(odd.history[0]["val"]["pearson"]) == \
        "undefined (not a number: '0.5?')"
    assert numbers.text(odd.history[0]["train_loss"]) == "undefined (not a number: 'high')"
    assert math.isnan(odd.metrics["seconds"])
    rows = {r.id: r for r in runlist.rows(store)}
    assert {rows[ids[n]].status for n in ("bad_json", "bad_config", "bad_history")} == {DAMAGED}
    variants = registry.all_variants(store)
    assert not any(ids["bad_json"] in name for name in variants)  # a damaged run is no variant
    assert finals.of(runs[ids["bad_json"]]) == []
    code, out, _ = _cli("list")
    assert code == 0 and all(i in out for i in ids.values()) and out.count(DAMAGED) == 3
    code, out, _ = _cli("show", ids["string_metric"])
    assert code == 0 and "undefined (not a number: '0.5?')" in out
    with store._db() as con:  # nothing was rewritten
        assert con.execute("SELECT config FROM runs WHERE id = ?", (ids["bad_config"],)).fetchone()[0] == "[1, 2"


@pytest.mark.parametrize("damage", ["not sqlite", "truncated"])
def test_a_store_that_cannot_be_read_gives_one_line_and_loses_nothing(damage, monkeypatch):
    store = RunStore()
    for _ in range(40):
        with store.recording(store.create("classification", "mobilenet_v2", "classification", {"note": "x" * 500})):
            pass
    with store._db() as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = store.path.read_bytes()
    store.path.write_bytes(b"these are my notes, not a database\n" * 50 if damage == "not sqlite"
                           else data[:len(data) // 3])
    before = store.path.read_bytes()
    with pytest.raises(runstore.RunStoreError, match="cannot be read .*Nothing in it was changed"):
        store.list()
    code, out, err = _cli("list")
    assert code == 2 and not out and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"error: The runs database {store.path.resolve()} cannot be read")
    assert store.path.read_bytes() == before
    with pytest.raises(sqlite3.DatabaseError):  # the file is as damaged as it was: the store did not mend it away
        sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM runs").fetchone()


def test_the_app_answers_a_store_that_is_not_sqlite_with_one_message_on_every_page():
    from streamlit.testing.v1 import AppTest

    store = RunStore()
    store.folder.mkdir(parents=True)
    store.path.write_text("not a database")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    for page in ("app_pages/home.py", "app_pages/runs.py", "app_pages/regression.py"):
        at.switch_page(page).run()
        assert not at.exception, at.exception
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and "cannot be read (file is not a database)" in errors[0], (page, errors)
    assert store.path.read_text() == "not a database"  # left as it was: the user decides
    store.path.unlink()  # moved aside: the next page reads an empty store
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception and not at.error


def test_undefined_values_are_marked_on_curves_never_drawn_as_zero():
    from core import plots
    from core.runs import export
    from core.studies.transfer import experiment as tx

    history = [_constant_epoch(0).__dict__ | {"val": {"pearson": numbers.Undefined("constant predictions"),
                                                       "MAE": 9.0}},
               _constant_epoch(1).__dict__ | {"val": {"pearson": 0.4, "MAE": 7.0}}]
    fig = plots.learning_curves_figure(tx.history_frame({"scratch": history}), "pearson")
    line = next(t for t in fig.data if t.name == "scratch val")
    assert math.isnan(line.y[0]) and line.y[1] == 0.4  # a gap, not 0
    mark = next(t for t in fig.data if t.name == "scratch val undefined")
    assert list(mark.x) == [1] and mark.yaxis == "y2" and list(mark.hovertext) == [
        "scratch val: undefined (constant predictions)"]
    store = RunStore()
    run_id = store.create("regression", "mobilenet_v2", "regression", {"strategy": "scratch"})
    with store.recording(run_id) as rec:
        rec.event(_constant_epoch(0))
    runs_fig = export.curves_figure([store.get(run_id)], "pearson")  # the Runs page: an all-undefined curve
    assert [t.name for t in runs_fig.data] == [f"{run_id} val undefined"]
    assert list(runs_fig.data[0].hovertext) == [f"{run_id} val: undefined (constant predictions)"]


def test_counts_that_are_not_whole_numbers_read_as_defaults_not_as_a_crash():
    store = RunStore()
    run_id = store.create("classification", "mobilenet_v2", "classification", {})
    with store._db() as con:  # found by the long fuzz run: a world size of inf took every reader of the list down
        con.execute("UPDATE runs SET metrics = ? WHERE id = ?",
                    ('{"world_size": Infinity, "queue": {"place": NaN, "limit": "two"}}', run_id))
    run = store.get(run_id)
    assert run.metrics["queue"] == {"place": 1, "limit": 1}
    assert runlist.row(run).processes == 1
