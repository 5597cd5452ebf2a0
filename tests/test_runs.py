"""The runs lab's core: every run listed with its headline, labels (name, tags, note, pinned baseline), delete
with files, export as a bundle and a one-page report, and the `python -m core.runs` CLI."""

import contextlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from core import runs as runlist
from core.engine import finals as recorded_finals
from core.engine.events import EpochEnd
from core.engine.store import RunStore, RunStoreError
from core.metrics import paired
from core.runs import export, finals

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["Sneaker", "Sandal", "Ankle boot"]


def _classification_run(store: RunStore, strategy: str, wrong_every: int, epochs: int = 2) -> str:
    """A finished classification run with real stored test outputs: every `wrong_every`-th image misclassified."""
    index = np.arange(30)
    targets = index % 3
    predicted = np.where(index % wrong_every == 0, (targets + 1) % 3, targets)
    outputs = np.full((30, 3), 0.05)
    outputs[index, predicted] = 0.9
    config = {"dataset": "fashion_mnist_imbalanced3", "backbone": "mobilenet_v2", "strategy": strategy,
              "epochs": epochs, "lr": 1e-3, "labels": LABELS}
    run_id = store.create("classification", "mobilenet_v2", "classification", config)
    with store.recording(run_id) as rec:
        for e in range(epochs):
            rec.event(EpochEnd(e, 1.0 - 0.1 * e, 0.9 - 0.1 * e, {"mCA": 0.5 + 0.1 * e}, 2.0, trainable=10))
        rec.checkpoint({"w": torch.ones(2)}, f"epoch {epochs}")
        rec.arrays(".npz", index=index, targets=targets, outputs=outputs)
    return run_id


def test_every_run_is_listed_with_its_study_headline_and_its_own_duration(tmp_path):
    store = RunStore(tmp_path)
    good = _classification_run(store, "finetune", wrong_every=5)
    failed = store.create("regression", "resnet18", "regression", {"dataset": "cartoon_faces/fatness", "epochs": 4,
                                                                      "strategy": "frozen"})
    with pytest.raises(RuntimeError), store.recording(failed):
        raise RuntimeError("out of memory")
    queued = store.create("classification", "mobilenet_v2", "classification", {"strategy": "scratch", "epochs": 3})
    with store._db() as con:  # the good run waited 500 s in the queue before its 40 s of work
        con.execute("UPDATE runs SET created = updated - 540, started = updated - 40 WHERE id = ?", (good,))
    rows = {r.id: r for r in runlist.rows(store)}
    assert list(rows) == [queued, failed, good]  # newest first
    g = rows[good]
    assert (g.status, g.study, g.dataset, g.backbone, g.strategy, g.epochs) == \
        ("done", "Transfer: classification", "fashion_mnist_imbalanced3", "mobilenet_v2", "finetune", "2 of 2")
    assert g.headline == "test mCA" and g.value == pytest.approx(0.8)  # 6 of 30 wrong, 2 per class of 10
    assert g.seconds == pytest.approx(40, abs=0.5)
    assert rows[failed].status == "failed" and rows[failed].message == "out of memory" and rows[failed].value is None
    assert rows[queued].status == "queued" and rows[queued].epochs == "0 of 3"


def test_final_numbers_carry_percentile_bootstrap_cis_over_the_test_images(tmp_path):
    from sklearn.metrics import balanced_accuracy_score, f1_score

    store = RunStore(tmp_path)
    run = store.get(_classification_run(store, "finetune", wrong_every=4))
    mca, f1 = finals.of(run, n_boot=300)
    assert (mca.name, f1.name, mca.over) == ("test mCA", "test macro F1", "30 test images")
    index = np.arange(30)
    true, pred = index % 3, np.where(index % 4 == 0, (index % 3 + 1) % 3, index % 3)
    assert mca.value == pytest.approx(balanced_accuracy_score(true, pred))
    assert f1.value == pytest.approx(f1_score(true, pred, average="macro"))
    rng, draws = np.random.default_rng(paired.SEED), []  # the same resamples, scored by sklearn
    for _ in range(300):
        w = np.bincount(rng.integers(0, 30, 30), minlength=30)
        draws.append(balanced_accuracy_score(true, pred, sample_weight=w))
    assert (mca.low, mca.high) == pytest.approx(tuple(np.percentile(draws, [2.5, 97.5])))
    assert mca.text() == f"{mca.value:.3f} [{mca.low:.3f}, {mca.high:.3f}]" and mca.low < mca.value < mca.high
    # what another trainer records is read back; a damaged entry is left out, a missing CI is shown as none
    fd = store.create("face_detection", "mtcnn/pretrained", "face_detection", {"strategy": "finetuned-pnet"})
    with store.recording(fd) as rec:
        rec.note(final={**recorded_finals.record("validation AP at IoU 0.3", 0.71, (0.6, 0.8), "40 validation images"),
                        **recorded_finals.record("no CI", 0.5, (float("nan"), float("nan")), ""), "bad": {"value": "x"}})
    found = finals.of(store.get(fd))
    assert [f.text() for f in found] == ["0.710 [0.600, 0.800]", "0.500"]
    assert json.loads(json.dumps(store.get(fd).metrics))["final"]["no CI"]["ci95"] == [None, None]
    queued = store.get(store.create("classification", "mobilenet_v2", "classification", {}))
    assert finals.of(queued) == []


def test_names_tags_notes_and_one_pinned_baseline_per_study(tmp_path):
    store = RunStore(tmp_path)
    a, b = _classification_run(store, "scratch", 3), _classification_run(store, "finetune", 5)
    before = store.get(a).seconds
    run = store.label(a, name="  scratch   baseline ", tags=["talk", "talk", " slides ", ""], note="for the demo")
    assert (run.name, run.tags, run.note, run.title) == ("scratch baseline", ("slides", "talk"), "for the demo",
                                                         "scratch baseline")
    assert store.get(a).seconds == before  # a label is not an update of the run: its duration stays
    assert runlist.find(store, "scratch baseline").id == a and runlist.find(store, b[-6:]).id == b
    store.pin(a)
    store.pin(b)  # the study's baseline moves: one pinned run per study
    assert store.pinned("classification").id == b and not store.get(a).pinned
    store.pin(b, False)
    assert store.pinned("classification") is None
    with pytest.raises(KeyError, match="matches 2 runs"):
        runlist.find(store, a[:8])


def test_delete_removes_the_run_and_its_files_but_not_a_running_one(tmp_path):
    store = RunStore(tmp_path)
    gone, kept = _classification_run(store, "scratch", 3), _classification_run(store, "finetune", 5)
    files = store.files(gone)
    assert {p.suffix for p in files} == {".pt", ".npz"}
    assert store.delete(gone) == files and not any(p.exists() for p in files)
    assert [r.id for r in store.list()] == [kept] and all(p.exists() for p in store.files(kept))
    live = store.create("classification", "mobilenet_v2", "classification", {})
    with pytest.raises(RunStoreError, match="is queued: stop it before deleting it"):
        store.delete(live)


def test_a_bundle_holds_config_environment_metrics_events_report_and_asked_for_checkpoint(tmp_path):
    store = RunStore(tmp_path)
    a, b = _classification_run(store, "scratch", 3, epochs=3), _classification_run(store, "finetune", 5)
    runs = [store.get(a), store.get(b)]
    with zipfile.ZipFile(__import__("io").BytesIO(export.bundle(runs[:1], store, checkpoint=True,
                                                                figures=False))) as z:
        names = set(z.namelist())
        assert {"run/config.json", "run/metrics.csv", "run/events.json", "environment.json", "report.html",
                f"run/checkpoint/{a}.pt", f"run/checkpoint/{a}.npz"} <= names
        assert json.loads(z.read("run/config.json"))["config"]["strategy"] == "scratch"
        csv = z.read("run/metrics.csv").decode().splitlines()
        assert csv[0].startswith("epoch,") and "val/mCA" in csv[0] and len(csv) == 4
        assert [f["name"] for f in json.loads(z.read("run/final.json"))] == ["test mCA", "test macro F1"]
        env = json.loads(z.read("environment.json"))
        assert env["packages"]["torch"] == torch.__version__.split("+")[0] and "cpu" in env["device"]
    page = export.report_html(runs)
    assert 'src="http' not in page and len(page) > 3_000_000  # plotly.js inside the file: no network needed
    assert '<tr class="differs"><th>epochs</th>' in page and '<tr class="differs"><th>strategy</th>' in page
    assert '<tr><th>lr</th>' in page  # the same in both: not highlighted
    assert '<h2>Final numbers</h2><table class="finals">' in page and "<tr><th>test mCA</th><td>0.667 [" in page
    Path(store.get(b).checkpoint).unlink()
    with pytest.raises(export.ExportError, match=f"run {b} lacks {b}.pt"):
        export.bundle(runs, store, checkpoint=True, figures=False)
    assert export.bundle(runs, store, figures=False)[:2] == b"PK"  # without checkpoints it still exports


def _cli(*args: str, env_dir: Path, stdin: str = "", monkeypatch=None) -> subprocess.CompletedProcess:
    """`python -m core.runs ARGS`: in a process of its own, or (given monkeypatch) in this one, which is
    seconds faster per call: the same main() behind the same argument parser."""
    if monkeypatch is None:
        env = {**os.environ, "TLDASH_RUNS_DIR": str(env_dir)}
        return subprocess.run([sys.executable, "-m", "core.runs", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, input=stdin, timeout=120)
    from core.runs.__main__ import main

    monkeypatch.setenv("TLDASH_RUNS_DIR", str(env_dir))
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(["python", "-m", "core.runs", *args], code, out.getvalue(), err.getvalue())


def test_the_cli_lists_shows_labels_exports_and_deletes_with_clear_errors(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    a, b = _classification_run(store, "scratch", 3), _classification_run(store, "finetune", 5)

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return _cli(*args, env_dir=store.folder, stdin=stdin, monkeypatch=monkeypatch)
    listed = json.loads(_cli("list", "--json", env_dir=store.folder).stdout)  # the real entry point, once
    assert [r["id"] for r in listed] == [b, a] and listed[0]["headline"] == "test mCA"
    assert cli("rename", a[-6:], "baseline").returncode == 0
    shown = json.loads(cli("show", "baseline", "--json").stdout)
    assert shown["id"] == a and shown["config"]["strategy"] == "scratch" and len(shown["files"]) == 2
    out = tmp_path / "report.html"
    done = cli("export", a, b, "--html", "--out", str(out))
    assert done.returncode == 0 and "2 runs compared" in out.read_text()
    missing = cli("show", "nope")
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr and "Traceback" not in missing.stderr
    Path(store.get(b).checkpoint).unlink()
    refused = cli("export", b, "--checkpoint", "--out", str(tmp_path / "b.zip"))
    assert refused.returncode == 2 and f"lacks {b}.pt" in refused.stderr and not (tmp_path / "b.zip").exists()
    assert cli("delete", a, stdin="n\n").returncode == 1 and store.get(a)
    assert cli("delete", a, "--yes").returncode == 0
    assert [r.id for r in store.list()] == [b]


def test_the_runs_page_lists_labels_pins_compares_and_deletes(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    store = RunStore(tmp_path / "runs")
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(store.folder))
    a, b = _classification_run(store, "scratch", 3), _classification_run(store, "finetune", 5, epochs=3)
    failed = store.create("regression", "resnet18", "regression", {"dataset": "cartoon_faces/fatness", "epochs": 4})
    with pytest.raises(RuntimeError), store.recording(failed):
        raise RuntimeError("CUDA out of memory")
    at = AppTest.from_file(str(ROOT / "app_pages/runs.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert list(table["id"]) == [failed, b, a] and list(table["status"]) == ["failed", "done", "done"]
    assert table["headline"].iloc[1] == "test mCA 0.800" and table["epochs"].iloc[1] == "3 of 3"
    at.multiselect(key="runs.status").set_value(["failed"]).run()
    assert list(at.dataframe[0].value["id"]) == [failed]
    at.multiselect(key="runs.status").set_value([]).run()
    at.multiselect(key="runs.compare").set_value([a]).run()  # one run: its labels, pin, delete, export
    at.text_input[1].set_value("scratch baseline")
    at.button[0].click().run()  # the form's Save
    assert store.get(a).name == "scratch baseline" and not at.exception
    next(bt for bt in at.button if bt.label.startswith("Pin as")).click().run()
    assert store.pinned("classification").id == a and at.dataframe[0].value["run"].iloc[2] == "★ scratch baseline"
    at.multiselect(key="runs.compare").set_value([a, b]).run()  # two: curves overlaid, settings side by side
    assert not at.exception, [e.value for e in at.exception]
    settings = at.dataframe[1].value
    order = list(settings.index)  # the fields that differ come first
    assert max(order.index("strategy"), order.index("epochs"), order.index("headline")) < order.index("study")
    assert settings.loc["headline"].tolist() == ["test mCA 0.667", "test mCA 0.800"]
    assert settings.loc["strategy"].tolist() == ["scratch", "finetune"]
    ci = settings.loc["test mCA [95% CI]"].tolist()  # the final numbers with their CIs
    assert [c.split(" [")[0] for c in ci] == ["0.667", "0.800"] and all(c.endswith("]") for c in ci)
    assert any("bootstrap over what each run was scored on: 30 test images." in c.value for c in at.caption)
    assert at.get("plotly_chart")
    at.selectbox(key="runs.manage").set_value(b).run()
    next(bt for bt in at.button if bt.label == "Delete for good").click().run()
    assert [r.id for r in store.list()] == [a, failed] and at.multiselect(key="runs.compare").value == [a]


def test_more_than_three_runs_get_parallel_coordinates_of_what_differs_to_the_headline(tmp_path):
    from ui import runs_view

    store = RunStore(tmp_path)
    runs = [store.get(_classification_run(store, s, w, epochs=e))
            for s, w, e in (("scratch", 3, 2), ("frozen", 4, 2), ("finetune", 5, 3), ("finetune", 6, 3))]
    dims = runs_view.parallel_figure(runs).data[0].dimensions
    assert [d.label for d in dims] == ["strategy", "epochs", "headline"]  # lr and labels are the same: not axes
    assert list(dims[0].ticktext) == ["finetune", "frozen", "scratch"] and list(dims[0].values) == [2, 1, 0, 0]
    assert list(dims[1].values) == [2, 2, 3, 3] and dims[2].values[2] == pytest.approx(0.8)


def test_the_runs_page_shows_the_queue_in_order_with_each_place(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    store = RunStore(tmp_path / "runs")
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(store.folder))
    first, second = (store.create("classification", "mobilenet_v2", "classification", {"epochs": 2}) for _ in range(2))
    store.assign([first, second], os.getpid())  # a live process has taken them on
    assert store.claim(first, 1) == 0 and store.claim(second, 1) == 1
    store._set(second, metrics=json.dumps({"queue": {"place": 1, "limit": 1}}))
    at = AppTest.from_file(str(ROOT / "app_pages/runs.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    lines = [m.value for m in at.markdown if "Transfer: classification ·" in m.value]
    assert lines == [f"**{first}** · Transfer: classification · epoch 0 of 2", f"**{second}** · Transfer: classification · "
                                                                           "waiting, 1st in line"]
    home = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()  # the home page shows it too
    assert not home.exception and home.subheader[0].value == "In progress"
    assert any(m.value.endswith("waiting, 1st in line") for m in home.markdown)


def test_prepare_queues_each_studys_default_once_and_knows_what_is_done(tmp_path):
    from core.runs import prepare

    store = RunStore(tmp_path)
    queued = prepare.queue_missing(store)
    assert [item.name for item, _ in queued] == ["face_detection", "classification", "face_verification",
                                                        "regression", "object_detection", "feature_extraction"]
    # each page's comparison: the default first, then its baselines (scratch and frozen, phase 1, both YOLO starts)
    assert [len(ids) for _, ids in queued] == [1, 3, 2, 3, 2, 1]
    assert prepare.queue_missing(store) == []  # queued already: nothing twice
    first = {item.name: store.get(ids[0]) for item, ids in queued}
    assert first["classification"].config["strategy"] == "finetune" and first["face_detection"].config["stages"] == \
        ["pnet"]
    (_, cls), = [q for q in queued if q[0].name == "classification"]
    assert [store.get(i).config["strategy"] for i in cls] == ["finetune", "scratch", "frozen"]
    (_, fv), = [q for q in queued if q[0].name == "face_verification"]
    assert [store.get(i).config["label"] for i in fv] == ["two_phase-bce", "frozen-bce"]
    fresh = RunStore(tmp_path / "other")
    (item, ids), = prepare.queue_missing(fresh, only=["classification"])
    for i in ids:  # done: prepared, though other settings would not be
        with fresh.recording(i):
            pass
    assert prepare.prepared(item, fresh)
    fresh.delete(ids[1])  # the scratch baseline gone: prepare queues it, and it alone
    (_, again), = prepare.queue_missing(fresh, only=["classification"])
    assert [fresh.get(i).config["strategy"] for i in again] == ["scratch"]
    with fresh.recording(again[0]):
        pass
    with fresh._db() as con:
        con.execute("UPDATE runs SET config = json_set(config, '$.epochs', 99)")
    assert not prepare.prepared(item, fresh)


def test_resume_starts_one_trainer_per_study_for_runs_whose_process_ended_before_they_began(tmp_path, monkeypatch):
    from core.engine import liveness
    from core.runs import prepare

    store = RunStore(tmp_path / "runs")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    ids = {}
    for name, experiment in (("a", "classification"), ("fd", "face_detection"), ("b", "classification"),
                             ("odd", "a study this version lacks")):
        ids[name] = store.create(experiment, "x", experiment, {})
    store.assign(list(ids.values()), gone.pid)  # their process ended before any began
    assert {r.status for r in store.list()} == {"queued"}  # they wait on, without a process: not failed
    assert {r.message for r in store.list()} == {liveness.ORPHANED} and not store.queue_line()
    started = []

    class Started:  # what subprocess.Popen gives: a process id (this process's own, which is alive)
        def __init__(self, cmd, **kwargs):
            started.append(cmd[1:])
            self.pid = os.getpid()
    monkeypatch.setattr(prepare.subprocess, "Popen", Started)
    done = _cli("resume", env_dir=store.folder, monkeypatch=monkeypatch)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "resumed 3 queued run(s)"
    assert started == [["-m", "core.worker", "--runs", ids["a"], ids["b"]],  # one worker, one process per study
                       ["-m", "core.worker", "--runs", ids["fd"]]]
    assert [r.id for r in store.queue_line()] == [ids["a"], ids["fd"], ids["b"]]  # their places kept
    assert store.get(ids["odd"]).message == liveness.ORPHANED  # no trainer for it here: it waits on
    assert _cli("resume", env_dir=store.folder, monkeypatch=monkeypatch).stdout.strip() == \
        "no queued run lacks a process"
    for _ in range(liveness.RESUMES - 1):  # a run whose process keeps ending before it begins is failed in the end
        store.assign([ids["b"]], gone.pid)
        assert store.adopt()[0].id == ids["b"]
    store.assign([ids["b"]], gone.pid)
    b = store.get(ids["b"])
    assert b.status == "failed" and f"after {liveness.RESUMES} resume(s)" in b.message
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TLDASH_RUNS_DIR", str(store.folder))  # the Runs page lists the run no trainer here takes
    page = AppTest.from_file(str(ROOT / "app_pages/runs.py"), default_timeout=60).run()
    assert f"**{ids['odd']}** · unknown study 'a study this version lacks' · waiting for a process: the app starts one within " \
        "seconds" in [m.value for m in page.markdown]
