import dataclasses

import numpy as np
import pytest
import torch
from facenet_pytorch import MTCNN

from core import registry
from core.data import catalogue
from core.engine.store import RunStore
from core.metrics.detection import iou_matrix
from core.predictors import build
from core.runs import finals
from core.studies.face_detection import samples as mtcnn_samples
from core.studies.face_detection import train as mtcnn


def test_mined_samples_fall_in_their_iou_bands_and_invert_through_bbreg():
    samples = catalogue.load("cartoon_faces/detection").split_samples("train")[:6]
    rng = np.random.default_rng(0)
    face = samples[1].boxes[0] if len(samples[1].boxes) else np.array([10.0, 10, 60, 70])
    for _ in range(50):
        crop = mtcnn_samples._jittered(face, rng, 0.3)
        target = mtcnn_samples.offsets(face, crop)
        np.testing.assert_allclose(crop + target * (crop[2] - crop[0]), face)  # bbreg's inverse
    data = mtcnn_samples.mine(samples, "rnet", per_face=3, negatives_per_image=4)
    counts = data.counts()
    assert data.images.shape[1:] == (3, 24, 24) and min(counts.values()) > 0
    assert float(data.images.min()) >= -1.0 and float(data.images.max()) <= 1.0
    assert (data.offsets[data.labels == 0] == 0).all()


def test_negative_crops_overlap_no_face(monkeypatch):
    sample = catalogue.load("cartoon_faces/detection").split_samples("train")[0]
    seen = []
    real_crop = mtcnn_samples.crop_resized
    monkeypatch.setattr(mtcnn_samples, "crop_resized", lambda im, box, size: seen.append(box) or real_crop(im, box, size))
    data = mtcnn_samples.mine([sample], "pnet", per_face=2, negatives_per_image=8)
    negatives = np.array([b for b, lab in zip(seen, data.labels.tolist(), strict=True) if lab == 0])
    assert len(negatives) and (len(sample.boxes) == 0 or iou_matrix(negatives, sample.boxes).max() < 0.3)


def test_config_checks_itself():
    with pytest.raises(ValueError, match="subset of"):
        mtcnn.MTCNNConfig(stages=("qnet",))
    assert mtcnn.MTCNNConfig(stages=("pnet", "rnet", "onet")).strategy == "finetuned-all"


def test_a_short_finetune_is_recorded_and_becomes_a_variant():
    store = RunStore()
    cfg = mtcnn.MTCNNConfig(stages=("pnet",), epochs=2, max_train_images=25, max_val_images=15,
                            hard_negatives=True)
    events = list(mtcnn.finetune(cfg, store, torch.device("cpu")))
    epochs = [e for e in events if isinstance(e, mtcnn.EpochEnd)]
    assert len(epochs) == 3 and all(np.isfinite(e.train_loss) for e in epochs)  # 2 epochs + the hard-negative round
    assert epochs[1].losses["class"] < epochs[0].losses["class"] and {e.phase for e in epochs} == {"pnet"}
    mining = [e for e in events if isinstance(e, mtcnn.Phase) and "hard" in e.name]
    assert len(mining) >= 2 and [m.done for m in mining] == list(range(0, mining[0].total, mtcnn.MINING_CHUNK))
    finished = events[-1]
    assert isinstance(finished, mtcnn.Finished) and finished.variant == f"mtcnn/finetuned-pnet-{finished.run_id}"
    run = store.get(finished.run_id)
    assert run.status == "done" and "val_AP30" in run.metrics and len(run.metrics["history"]) == 3
    (final,) = finals.of(run)  # the same AP, with its CI over the validation images
    assert final.name == "validation AP at IoU 0.3" and final.value == pytest.approx(run.metrics["val_AP30"])
    assert final.low <= final.value <= final.high and final.over == "15 validation images"
    assert run.checkpoint_label == "pnet epoch 3"
    variant = registry.variant(f"mtcnn/finetuned-pnet-{finished.run_id}")
    detector = build(variant, torch.device("cpu"))
    pretrained = MTCNN()
    assert not torch.equal(detector.mtcnn.pnet.conv1.weight, pretrained.pnet.conv1.weight)
    assert torch.equal(detector.mtcnn.rnet.conv1.weight, pretrained.rnet.conv1.weight)


def test_a_failing_run_is_marked_failed(monkeypatch):
    store = RunStore()
    monkeypatch.setattr(mtcnn.ms, "mine", lambda *a, **k: (_ for _ in ()).throw(ValueError("no samples")))
    with pytest.raises(ValueError, match="no samples"):
        list(mtcnn.finetune(mtcnn.MTCNNConfig(max_train_images=2, max_val_images=2), store, torch.device("cpu")))
    (run,) = store.list()
    assert run.status == "failed" and run.message == "no samples"


def test_the_seed_drives_mining_and_order_and_the_same_seed_repeats_the_run():
    """Replicates: the same seed gives the same PNet weights; another seed mines other samples and trains another."""
    store = RunStore()
    cfg = mtcnn.MTCNNConfig(stages=("pnet",), epochs=1, max_train_images=6, max_val_images=3, hard_negatives=False,
                            per_face=4)

    def pnet(seed: int) -> torch.Tensor:
        finished = [e for e in mtcnn.finetune(dataclasses.replace(cfg, seed=seed), store, torch.device("cpu"))
                    if isinstance(e, mtcnn.Finished)][0]
        return build(registry.variant(finished.variant), torch.device("cpu")).mtcnn.pnet.conv1.weight.detach()
    first, again, other = pnet(0), pnet(0), pnet(1)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
