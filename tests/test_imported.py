"""Your models beside ours: a model trained here, exported as a state dict, as safetensors and as ONNX, imported
back, predicts what the original did and scores what it scored; a YOLO run exported by ultralytics to ONNX detects
what the run did; and every bad file gets one message with nothing left on disk."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from core import predictors, registry, weights
from core.data.types import open_image
from core.engine.store import RunStore
from core.models import __main__ as models_cli
from core.models import backbones, imported
from core.studies.transfer import experiment as tx
from core.studies.transfer import train as trainer
from ui.comparison_view import comparison

CPU = torch.device("cpu")
TINY = trainer.TransferConfig(dataset="fashion_mnist_imbalanced3", image_size=32, epochs=1, limit_batches=2,
                              batch_size=16, workers=0)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A runs folder with a finished tiny fine-tuning run and a scratch one (the baseline); imports go here too."""
    folder = tmp_path_factory.mktemp("imported-runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("TLDASH_RUNS_DIR", str(folder))
    store = RunStore(folder)
    for strategy in ("scratch", "finetune"):
        assert [e for e in trainer.train(TINY.dataset, TINY.with_strategy(strategy), store, CPU)
                if isinstance(e, trainer.Finished)]
    yield folder
    mp.undo()


@pytest.fixture(scope="module")
def run(home):
    return next(r for r in RunStore(home).list("done") if r.config["strategy"] == "finetune")


@pytest.fixture(scope="module")
def files(run, tmp_path_factory):
    """The run's weights as a .pt state dict, a .safetensors file and an ONNX graph (torch.onnx)."""
    from safetensors.torch import save_file

    out = tmp_path_factory.mktemp("exported")
    state = torch.load(run.checkpoint, map_location="cpu", weights_only=True)
    torch.save(state, out / "weights.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / "weights.safetensors"))
    model, _ = backbones.build(run.config["backbone"], 3, run.config["head"], pretrained=False)
    model.load_state_dict(state)
    size = run.config["image_size"]
    torch.onnx.export(model.eval(), (torch.zeros(1, 3, size, size),), str(out / "model.onnx"), dynamo=False,
                      input_names=["images"], dynamic_axes={"images": {0: "batch"}})
    return out


@pytest.mark.parametrize("file, name", [("weights.pt", "pt"), ("weights.safetensors", "st"), ("model.onnx", "onnx")])
def test_a_run_exported_and_imported_back_predicts_and_scores_as_the_run_did(home, run, files, file, name):
    labels = run.config["labels"]
    meta = imported.import_file(files / file, name, classes=labels, size=run.config["image_size"])
    assert (meta.task, meta.classes, meta.outputs, meta.size) == ("classification", labels, 3, (32, 32))
    assert meta.arch == ("onnx" if file.endswith("onnx") else "transfer:mobilenet_v2:linear")
    assert meta.sha256 == weights.sha256_of(files / file) and meta.bytes == (files / file).stat().st_size
    original = tx.outcome(run)
    variant = registry.imported_variant(meta)
    assert variant.name in registry.all_variants() and variant in registry.for_task("classification")
    mine = tx.imported_outcome(variant, TINY.dataset, original, CPU)
    assert np.abs(mine.outputs - original.outputs).max() < 1e-4
    # the page's comparison: yours beside the runs, the same metrics as the run it came from
    scratch = next(r for r in RunStore(home).list("done") if r.config["strategy"] == "scratch")
    result, _, names, refused = comparison.__wrapped__((scratch.id, run.id), "classification", TINY.dataset,
                                                       str(home), "", ((name, meta.sha256),))
    assert refused == {} and names[variant.name] == f"yours: {name}"
    ours, theirs = result.variants[registry.run_variant(run).name], result.variants[variant.name]
    for metric in ("mCA", "mF1", "accuracy"):
        assert theirs[metric] == pytest.approx(ours[metric])
    assert [(a, b) for a, b, c in result.comparisons if c.metric == "mCA"] == [
        (registry.run_variant(run).name, registry.run_variant(scratch).name),
        (variant.name, registry.run_variant(scratch).name)]  # paired against the same baseline


def test_an_imported_classifier_runs_on_try_your_image(home, run, files):
    meta = imported.import_file(files / "weights.safetensors", "try", classes=run.config["labels"], size=32)
    predictor = predictors.build(registry.imported_variant(meta), CPU)
    from core.data import catalogue

    (top,) = predictor.predict([open_image(catalogue.labelled(TINY.dataset).images[0])])
    assert sorted(top.labels) == sorted(run.config["labels"]) and top.probs.sum() == pytest.approx(1, abs=1e-5)


def test_classes_that_differ_from_the_datasets_are_named(home, run, files):
    meta = imported.import_file(files / "weights.pt", "renamed", classes=["Sneaker", "Sandal", "Boot"], size=32)
    with pytest.raises(ValueError, match="only yours: Boot; only the dataset's: Ankle boot"):
        tx.imported_outcome(registry.imported_variant(meta), TINY.dataset, tx.outcome(run), CPU)


class Whole(torch.nn.Module):  # a pickled module: more than weights
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(2, 2)


def _onnx_with_input(path: Path, shape: list) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what the onnxruntime here reads
    onnx.save(model, str(path))
    return path


def _nothing_left(name: str) -> None:
    assert not (imported.folder() / name).exists()
    assert not list(imported.folder().glob(".*"))  # no staged copy either


def test_bad_files_get_one_message_and_leave_nothing(home, files, tmp_path, monkeypatch):
    torch.save(Whole(), tmp_path / "whole.pt")
    cases = {
        "whole": (tmp_path / "whole.pt", {}, r"holds more than weights .*refused, because unpickling it could run code"),
        "cut": (None, {}, r"cannot be read as a PyTorch file: it is truncated"),
        "dyn": (_onnx_with_input(tmp_path / "dyn.onnx", [1, "c", 32, 32]), {}, r"no axis of 3 colour channels"),
        "seq": (_onnx_with_input(tmp_path / "seq.onnx", [1, 16]), {}, r"a float tensor of 4 dimensions"),
        "count": (files / "weights.pt", {"classes": ["a", "b"]}, r"2 class names given for a model with 3 outputs"),
        "yolo": (files / "weights.pt", {"yolo": True}, r"import it only if you trust where it came from"),
        "text": (tmp_path / "notes.txt", {}, r"unknown kind of file"),
    }
    (tmp_path / "cut.pt").write_bytes((files / "weights.pt").read_bytes()[:4000])
    cases["cut"] = (tmp_path / "cut.pt", {}, cases["cut"][2])
    (tmp_path / "notes.txt").write_text("hello")
    for name, (path, options, message) in cases.items():
        with pytest.raises(imported.ImportRefused, match=message):
            imported.import_file(path, name, **options)
        _nothing_left(name)
    state = torch.load(files / "weights.pt", weights_only=True)
    state.pop("blocks.0.0.weight")
    torch.save(state, tmp_path / "odd.pt")
    with pytest.raises(imported.ImportRefused, match=r"fits no architecture .*nearest: transfer:mobilenet_v2:linear "
                                                     r"\(.*1 missing: blocks\.0\.0\.weight"):
        imported.import_file(tmp_path / "odd.pt", "odd")
    monkeypatch.setattr(imported, "MAX_BYTES", 1000)
    with pytest.raises(imported.ImportRefused, match=r"over the .* limit"):
        imported.import_file(files / "weights.pt", "big")
    _nothing_left("big")


def test_a_second_import_under_a_name_is_refused_and_the_first_kept(home, files):
    first = imported.import_file(files / "model.onnx", "twice", size=32)
    with pytest.raises(imported.ImportRefused, match="a model named 'twice' exists already"):
        imported.import_file(files / "weights.pt", "twice")
    assert imported.get("twice") == first


def test_the_cli_imports_lists_and_removes(home, files, capsys):
    with contextlib.redirect_stderr(io.StringIO()):
        assert models_cli.main(["import", str(files / "weights.safetensors"), "--name", "cli", "--size", "32",
                                "--classes", "Sneaker,Sandal,Ankle boot"]) == 0
    assert capsys.readouterr().out.startswith("imported yours/cli: 3-class classifier (safetensors, "
                                              "transfer:mobilenet_v2:linear), 32×32 px")
    assert models_cli.main(["list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["cli"]["classes"] == ["Sneaker", "Sandal", "Ankle boot"] and listed["cli"]["size"] == [32, 32]
    assert models_cli.main(["import", str(files / "weights.pt"), "--name", "cli"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: a model named 'cli' exists already: pick another name, or remove it first "
                   "(python -m core.models remove cli)"]
    assert models_cli.main(["remove", "cli"]) == 0 and "cli" not in {m.name for m in imported.listing()}
    assert models_cli.main(["remove", "cli"]) == 2


def test_your_model_stands_beside_the_runs_across_seeds_and_in_the_talk_never_as_the_baseline(home, run, files,
                                                                                               monkeypatch):
    from core.experiments import seeds as across
    from core.experiments.evidence import gather
    from core.studies import index

    monkeypatch.setattr(across, "settings_for", lambda study: [TINY.with_strategy("scratch"),
                                                               TINY.with_strategy("finetune")])
    imported.import_file(files / "model.onnx", "beside", classes=run.config["labels"], size=32)
    e = gather(index.get("classification"), RunStore(home), CPU)
    assert list(e.variants["variant"]) == ["scratch", "finetune", "yours: beside"]
    assert list(e.variants["seeds"]) == ["1 seed", "1 seed", "yours, no seed"]
    assert e.variants.set_index("variant").loc["yours: beside"].iloc[0] == \
        e.variants.set_index("variant").loc["finetune"].iloc[0]  # the same model: the same mCA and CI
    assert "yours: beside − scratch" in list(e.deltas["comparison"])
    assert e.headline["comparison"] == "finetune − scratch"


def test_the_score_page_scores_your_model_without_exporting_predictions(home, run, files):
    from streamlit.testing.v1 import AppTest

    imported.import_file(files / "weights.safetensors", "scored", classes=run.config["labels"], size=32)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app_pages/score.py"), default_timeout=300).run()
    at.radio(key="score.task").set_value("classification").run()
    at.radio(key="score.source").set_value("Your model on a dataset").run()
    at.selectbox(key="score.classification.yours.dataset").set_value(TINY.dataset).run()
    assert not at.exception, [e.value for e in at.exception]
    original = tx.outcome(run)  # the run it came from, on the same test split
    accuracy = float((original.predicted == original.targets).mean())
    assert {m.label: m.value for m in at.metric}["accuracy"] == f"{accuracy:.3f}"


def test_an_embedder_exported_to_onnx_embeds_as_the_pretrained_one_and_is_compared_on_the_verification_page(
        tmp_path):
    from core.data import catalogue
    from core.models import embeddings
    from core.studies.face_verification import experiment as fv

    builtin = registry.BUILTIN["efficientnet_lite0/imagenet-output"]
    model, prep = embeddings.build("efficientnet_lite0", "output", pretrained=True)
    size = predictors.EMBED_SIZE
    torch.onnx.export(model.eval(), (torch.zeros(1, 3, size, size),), str(tmp_path / "embedder.onnx"), dynamo=False,
                      input_names=["images"], dynamic_axes={"images": {0: "batch"}})
    meta = imported.import_file(tmp_path / "embedder.onnx", "faces", task="face_verification", size=size,
                                preprocessing="half")  # EfficientNet-Lite's own: mean = std = 0.5
    assert (meta.task, meta.outputs, meta.classes) == ("face_verification", 1000, [])
    yours = registry.imported_variant(meta)
    ps = fv.pair_set(catalogue.pairs("cartoon_faces/verification", "test"))
    keep = np.flatnonzero((ps.a < 24) & (ps.b < 24))  # the pairs among the first 24 images: quick
    small = fv.PairSet(ps.name, ps.images[:24], ps.a[keep], ps.b[keep], ps.same[keep])
    embedded = {v.name: fv.embed(v, small.images, CPU) for v in (builtin, yours)}
    assert np.abs(embedded[yours.name].vectors - embedded[builtin.name].vectors).max() < 1e-4
    result = fv.compare([builtin, yours], embedded, small, "euclidean")
    assert fv.label(yours) == "yours: faces"
    ((a, b, c),) = result.comparisons  # DeLong's ΔAUC against the page's pretrained embedding
    assert (a, b) == (yours.name, builtin.name) and abs(c.delta) < 1e-3
