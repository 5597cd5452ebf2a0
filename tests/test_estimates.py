"""Run-time estimates from past runs of the same config (core.engine.estimates)."""

import pytest

from core.engine import estimates
from core.engine.store import RunStore

CFG = {"stages": ["pnet"], "epochs": 8, "seed": 0}


def _run(store: RunStore, config: dict, seconds: float, ok: bool = True, waited: float = 600) -> str:
    run_id = store.create("face_detection", "mtcnn/pretrained", "face_detection", config)
    try:
        with store.recording(run_id):
            if not ok:
                raise RuntimeError("failed")
    except RuntimeError:
        pass
    with store._db() as con:  # a run that waited `waited` s in the queue, then took `seconds` from start to end
        con.execute("UPDATE runs SET started = updated - ?, created = updated - ? WHERE id = ?",
                    (seconds, seconds + waited, run_id))
    return run_id


def test_the_median_of_past_runs_of_the_same_config(tmp_path):
    store = RunStore(tmp_path)
    assert estimates.past_seconds("face_detection", CFG, store) is None  # nothing to go by: no promise
    for s in (40, 50, 90):
        _run(store, CFG, s)
    _run(store, {**CFG, "seed": 3}, 60)  # the seed does not change the work
    _run(store, {**CFG, "stages": ["pnet", "rnet", "onet"]}, 300)  # another config
    _run(store, CFG, 500, ok=False)  # a failed run says nothing of how long one takes
    _run(store, CFG, 55, waited=3000)  # the time it waited behind others is not its own
    median, count = estimates.past_seconds("face_detection", CFG, store)
    assert count == 5 and median == pytest.approx(55, abs=1.5)
    assert estimates.total([(10.0, 1), (20.0, 2)]) == 30 and estimates.total([(10.0, 1), None]) is None


def test_time_left_from_the_epochs_so_far():
    assert estimates.remaining([{"seconds": 10}, {"seconds": 14}], epochs=5) == pytest.approx(36)
    assert estimates.remaining([], epochs=5) is None and estimates.remaining([{"seconds": 1}], epochs=1) is None
    assert estimates.words(40) == "about 40 s" and estimates.words(200) == "about 3 min"


def test_the_face_detection_buttons_quote_this_machines_past_runs(tmp_path, monkeypatch):
    from core.studies.face_detection import train as mtcnn
    from ui import face_detection as ui_fd

    monkeypatch.setenv("TLDASH_RUNS_DIR", str(tmp_path))
    assert ui_fd.estimate(("pnet",)) == ""  # no past run: no promise
    _run(RunStore(tmp_path), {**mtcnn.MTCNNConfig(stages=("pnet",)).to_dict(), "strategy": "finetuned-pnet"}, 52)
    assert ui_fd.estimate(("pnet",)) == " (about 52 s here, from 1 past run)"
    assert ui_fd.estimate(("pnet", "rnet", "onet")) == ""


def test_the_face_verification_start_button_sums_the_chosen_recipes_past_runs(tmp_path, monkeypatch):
    from core.studies.face_verification import train as trainer
    from ui import face_verification as ui_fv

    monkeypatch.setenv("TLDASH_RUNS_DIR", str(tmp_path))
    args = ("cartoon_faces/verification", "efficientnet_lite0", "output", "euclidean")
    assert ui_fv.estimate(*args, ["phase1", "phase2"], 8) == ""  # never run here: no promise
    store = RunStore(tmp_path)
    for (cfg, emb), seconds in zip(ui_fv._recipes(*args[1:], ["phase1", "phase2"], 8), (50, 100), strict=True):
        run_id = store.create(trainer.TASK, cfg.backbone, trainer.TASK, trainer.run_config(args[0], cfg, emb))
        with store.recording(run_id):
            pass
        with store._db() as con:
            con.execute("UPDATE runs SET started = updated - ? WHERE id = ?", (seconds, run_id))
    assert ui_fv.estimate(*args, ["phase1", "phase2"], 8) == " (about 2 min here)"
    assert ui_fv.estimate(*args, ["phase1"], 8) == " (about 50 s here)"
    assert ui_fv.estimate(*args, ["phase1", "metric"], 8) == ""  # one of them never ran: no sum
    assert ui_fv.estimate(*args, ["phase1"], 12) == ""  # other epochs, other work
