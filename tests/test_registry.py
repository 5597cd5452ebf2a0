import numpy as np
import pytest
import torch

from core import registry
from core.data import samples
from core.engine.store import RunStore
from core.models import classifiers
from core.predictors import build
from core.weights import WeightsUnavailable

CPU = torch.device("cpu")


def test_unknown_variant_names_the_choices():
    with pytest.raises(KeyError, match="choose from .*efficientnet_lite0/imagenet"):
        registry.variant("resnet9000/imagenet")


def test_variant_spec_checks_itself():
    with pytest.raises(ValueError, match="unknown task"):
        registry.Variant("x", "x", "juggling", ("mtcnn_pnet",))
    with pytest.raises(KeyError, match="unknown weights source"):
        registry.Variant("x", "x", "classification", ("no_such_weights",))


def test_tasks_group_variants_and_offline_availability_is_explained():
    names = {v.name for v in registry.for_task("classification")}
    assert {"efficientnet_lite0/imagenet", "resnet18/imagenet", "vgg16/imagenet"} <= names
    assert registry.availability(registry.variant("efficientnet_lite0/imagenet")).ok
    resnet = registry.availability(registry.variant("resnet18/imagenet"))
    assert not resnet.ok and "resnet18-f37072fd.pth" in resnet.message
    with pytest.raises(WeightsUnavailable, match="resnet18-f37072fd.pth"):
        build(registry.variant("resnet18/imagenet"), CPU)


def test_run_store_round_trip_and_status_check():
    store = RunStore()
    run_id = store.create("classification", "efficientnet_lite0/imagenet", "classification", {"lr": 0.001})
    assert store.get(run_id).status == "queued"
    store.update(run_id, status="running", metrics={"epoch": 1, "val_acc": 0.5})
    run = store.get(run_id)
    assert run.status == "running" and run.metrics == {"epoch": 1, "val_acc": 0.5} and run.config == {"lr": 0.001}
    with pytest.raises(ValueError, match="unknown run status"):
        store.update(run_id, status="exploded")
    with pytest.raises(KeyError):
        store.get("nope")


def _finished_classifier_run(store: RunStore, labels: list[str]) -> str:
    model, _ = classifiers.architecture("efficientnet_lite0_imagenet", num_classes=len(labels))
    torch.manual_seed(0)
    torch.nn.init.normal_(model._fc.weight)
    run_id = store.create("classification", "efficientnet_lite0/imagenet", "classification",
                          {"strategy": "frozen", "labels": labels, "dataset": "tiny"})
    with store.recording(run_id) as rec:
        rec.checkpoint(model.state_dict(), "epoch 1")
    return run_id


def test_finished_run_appears_as_a_variant_that_predicts_its_own_labels():
    store = RunStore()
    labels = ["car", "person", "cyclist"]
    run_id = _finished_classifier_run(store, labels)
    unfinished = store.create("classification", "efficientnet_lite0/imagenet", "classification", {})
    names = [v.name for v in registry.for_task("classification")]
    assert f"efficientnet_lite0/frozen-{run_id}" in names
    assert not any(unfinished in n for n in names)
    v = registry.variant(f"efficientnet_lite0/frozen-{run_id}")
    assert v.run_id == run_id and registry.availability(v).ok
    (top,) = build(v, CPU).predict([samples.load_sample("coffee").image])
    assert sorted(top.labels) == sorted(labels)
    assert np.isclose(top.probs.sum(), 1.0, atol=1e-5)


def test_finetuned_mtcnn_run_loads_its_stage_weights():
    from facenet_pytorch.models.mtcnn import PNet

    store = RunStore()
    pnet = PNet(pretrained=False)
    torch.manual_seed(1)
    for p in pnet.parameters():
        torch.nn.init.normal_(p, std=0.01)
    run_id = store.create("face_detection", "mtcnn/pretrained", "face_detection", {"strategy": "finetuned-pnet"})
    with store.recording(run_id) as rec:
        rec.checkpoint({"pnet": pnet.state_dict()}, "pnet epoch 1")
    detector = build(registry.variant(f"mtcnn/finetuned-pnet-{run_id}"), CPU)
    assert torch.equal(detector.mtcnn.pnet.conv1.weight, pnet.conv1.weight)
    assert not torch.equal(detector.mtcnn.pnet.conv1.weight, PNet().conv1.weight)
