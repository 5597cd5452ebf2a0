import numpy as np
import pytest
import torch
from torchvision.transforms import v2 as T

from core.data import fashion_mnist
from core.data.types import LabelledImages
from core.engine import loop, objectives, strategies, streams
from core.engine.events import EpochEnd
from core.engine.loop import Predictions, TrainConfig, check_dataset, fit, split_indices
from core.engine.strategies import StrategyConfig
from core.models import backbones, classifiers
from core.weights import WeightsUnavailable


def tiny(n_per_class: int = 12) -> LabelledImages:
    data = fashion_mnist.imbalanced()
    picks = np.concatenate([np.flatnonzero(data.targets == c)[:n_per_class] for c in range(3)])
    split = np.where(np.arange(len(picks)) % 4 == 0, "test", "train")
    return LabelledImages("tiny", [data.images[i] for i in picks], data.targets[picks], split, data.classes)


def test_heads_follow_the_age_study_widths():
    mlp = backbones.make_head("mlp", 512, 1)
    assert [m.out_features for m in mlp if isinstance(m, torch.nn.Linear)] == [256, 32, 1]
    assert [m.out_features for m in backbones.make_head("mlp", 2048, 1) if isinstance(m, torch.nn.Linear)] == [512, 128, 1]
    with pytest.raises(ValueError, match="unknown head"):
        backbones.make_head("deep", 512, 1)


def test_split_backbone_gives_the_original_pooled_features():
    original, _ = classifiers.pretrained("mobilenet_v2_features")
    model, prep = backbones.build("mobilenet_v2", 3)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.eval().features(x), original.eval()(x), atol=1e-5)
    assert len(model.blocks) == 19 and prep.crop == 224


@pytest.mark.parametrize("name, epoch, expected", [
    ("frozen", 5, []), ("finetune", 0, list(range(6))), ("two_phase", 0, []), ("two_phase", 1, list(range(6))),
    ("gradual", 0, []), ("gradual", 1, [5]), ("gradual", 3, [3, 4, 5]), ("freeze_first_k", 0, [2, 3, 4, 5])])
def test_which_blocks_train_when(name, epoch, expected):
    assert strategies.trainable_blocks(StrategyConfig(name, k=2), 6, epoch) == expected


def test_frozen_blocks_keep_batchnorm_in_eval_and_discriminative_rates_decay():
    model, _ = backbones.build("mobilenet_v2", 3)
    cfg = StrategyConfig("freeze_first_k", k=3)
    strategies.apply(model, cfg, 0)
    strategies.set_train_mode(model, cfg, 0)
    bn = [m for m in model.blocks[0].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bn and not any(m.training for m in bn) and not any(p.requires_grad for p in model.blocks[0].parameters())
    assert all(m.training for m in model.blocks[5].modules() if isinstance(m, torch.nn.BatchNorm2d))
    groups = strategies.apply(model, StrategyConfig("discriminative", lr=1e-3, decay=0.5), 0)
    rates = [g["lr"] for g in groups if g["block"] != "head"]
    assert rates[-1] == 1e-3 and rates[-2] == 5e-4 and rates[0] == pytest.approx(1e-3 * 0.5 ** 18)
    head_only = strategies.count_trainable(model, StrategyConfig("frozen"))
    assert head_only == sum(p.numel() for p in model.head.parameters())


def test_frozen_training_caches_features_and_leaves_the_backbone_alone():
    model, _ = backbones.build("mobilenet_v2", 3)
    before = model.blocks[3].conv[0][0].weight.clone()
    data = tiny()
    phase, *epochs, tested = fit(data, TrainConfig(strategy=StrategyConfig("frozen"), epochs=2, image_size=32),
                                 model=model)
    assert "features" in phase.name and len(epochs) == 2 and torch.equal(model.blocks[3].conv[0][0].weight, before)
    assert {"accuracy", "mCA", "macro_f1"} == set(epochs[-1].val) and np.isfinite(epochs[-1].train_loss)
    assert isinstance(tested, Predictions) and tested.outputs.shape == (len(data.subset("test")), 3)
    assert np.allclose(tested.outputs.sum(1), 1, atol=1e-5) and np.array_equal(tested.targets, data.targets[tested.index])


def test_computing_frozen_features_reports_its_progress(monkeypatch):
    from core.engine import loop

    monkeypatch.setattr(loop, "FEATURE_REPORT_EVERY", 1)
    data = tiny()
    events = list(fit(data, TrainConfig(strategy=StrategyConfig("frozen"), epochs=1, image_size=32, batch_size=4)))
    phases = [e for e in events if isinstance(e, loop.Phase)]
    done = [p.done for p in phases]
    assert len(phases) >= 3 and done[0] == 0 and done == sorted(done) and 0 < done[-1] <= phases[0].total
    assert isinstance(events[len(phases)], loop.EpochEnd)  # every report comes before the first epoch


def test_finetuning_changes_the_backbone_and_augmentation_runs():
    model, _ = backbones.build("mobilenet_v2", 3)
    before = model.blocks[3].conv[0][0].weight.clone()
    cfg = TrainConfig(strategy=StrategyConfig("finetune"), epochs=1, image_size=32, augment=("flip", "jitter",
                                                                                              "rotation", "crop"))
    event, _ = fit(tiny(), cfg, model=model)
    assert not torch.equal(model.blocks[3].conv[0][0].weight, before) and event.trainable > 2_000_000


def test_bad_datasets_are_refused_with_the_reason():
    one = tiny()
    with pytest.raises(ValueError, match="one class"):
        check_dataset(LabelledImages("x", one.images, np.zeros(len(one.images), int), one.split, ["a"]))
    no_train = np.where(one.targets == 2, "test", one.split)
    with pytest.raises(ValueError, match="class 'Ankle boot' has no training samples"):
        check_dataset(LabelledImages("x", one.images, one.targets, no_train, one.classes))
    targets = np.linspace(1, 9, len(one.images))
    targets[4] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite target \\(first at index 4\\)"):
        check_dataset(LabelledImages("x", one.images, targets, one.split, None))
    with pytest.raises(ValueError, match="unknown augmentation"):
        TrainConfig(augment=("mixup",))


def test_mixed_sizes_and_modes_stream_as_one_batch():
    images = [np.zeros((28, 28), np.uint8), np.full((40, 30, 3), 200, np.uint8)]
    stream = streams.ImageStream(images, np.array([0, 1]), np.arange(2), 32)
    x, y = next(iter(streams.image_loader(stream, 2, False, 0, torch.device("cpu"), 0)))
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.uint8 and y.tolist() == [0, 1]
    assert x[0].max() == 0 and x[1].min() == 200


def test_regression_trains_with_l1_and_reports_correlations():
    data = tiny()
    brightness = np.array([img.mean() for img in data.images])
    reg = LabelledImages("brightness", data.images, brightness, data.split, None, target_name="brightness")
    _, event, tested = fit(reg, TrainConfig(strategy=StrategyConfig("frozen"), head="mlp", epochs=1, image_size=32))
    assert set(event.val) == {"MAE", "pearson", "spearman"} and np.isfinite(event.val["MAE"])
    assert tested.outputs.shape == tested.targets.shape == (len(data.subset("test")),)


def test_splits_carve_a_stratified_validation_set_and_cut_unsplit_sets():
    data = fashion_mnist.imbalanced()
    train, val, test = split_indices(data, seed=0)
    assert np.array_equal(test, data.subset("test")) and not set(train) & set(val)
    assert sorted([*train, *val]) == sorted(data.subset("train"))
    val_counts = np.bincount(data.targets[val], minlength=3)
    assert np.allclose(val_counts / len(val), np.bincount(data.targets[train], minlength=3) / len(train), atol=0.01)
    assert np.array_equal(split_indices(data, seed=0)[1], val) and not np.array_equal(split_indices(data, 1)[1], val)
    unsplit = LabelledImages("u", data.images[:100], np.linspace(0, 1, 100), np.full(100, "all"), None)
    train, val, test = split_indices(unsplit)
    assert (len(train), len(val), len(test)) == (72, 13, 15) and len({*train, *val, *test}) == 100


def test_a_regressor_predicts_in_the_target_units_after_training():
    data = tiny()
    target = 40 + 30 * np.array([img.mean() for img in data.images]) / 255  # an "age" far from 0 with spread
    reg = LabelledImages("age-like", data.images, target, data.split, None, target_name="age")
    model, prep = backbones.build("mobilenet_v2", 1, "mlp")
    cfg = TrainConfig(strategy=StrategyConfig("frozen"), head="mlp", epochs=3, image_size=32)
    objective = objectives.for_data(reg, split_indices(reg)[0])
    *_, tested = fit(reg, cfg, model=model, objective=objective)
    saved, _ = backbones.build("mobilenet_v2", 1, "mlp", pretrained=False)
    saved.load_state_dict(objective.export(model))  # what a checkpoint holds
    batches = loop._Batches(T.Normalize(prep.mean, prep.std), torch.device("cpu"), False, torch.float32, None)
    x, _ = next(batches.images(streams.image_loader(streams.ImageStream(reg.images, reg.targets, tested.index, 32),
                                                    256, False, 0, torch.device("cpu"), 0)))
    with torch.no_grad():
        again = saved.eval()(x).squeeze(1).numpy()
    assert np.allclose(again, tested.outputs, atol=1e-3) and 30 < tested.outputs.mean() < 80


def test_alexnet_splits_into_pooled_stages_and_pretrained_weights_offline_say_what_to_do():
    model, _ = backbones.build("alexnet", 2, "mlp", pretrained=False)
    assert len(model.blocks) == 3 and all(isinstance(b[-1], torch.nn.MaxPool2d) for b in model.blocks)
    assert model.features(torch.randn(1, 3, 64, 64)).shape == (1, 256)
    assert [m.out_features for m in model.head if isinstance(m, torch.nn.Linear)] == [128, 32, 2]
    assert not backbones.available("alexnet") and backbones.available("mobilenet_v2")
    with pytest.raises(WeightsUnavailable, match="alexnet-owt-7be5be79.pth"):
        backbones.build("alexnet", 2, pretrained=True)


def test_augmentation_runs_on_uint8_pixels_before_normalising():
    black = [np.zeros((16, 16, 3), np.uint8)] * 4
    stream = streams.ImageStream(black, np.zeros(4, int), np.arange(4), 16, loop._augmenter(("jitter", "flip"), 16))
    normalise = T.Normalize(classifiers.IMAGENET_MEAN, classifiers.IMAGENET_STD)
    batches = loop._Batches(normalise, torch.device("cpu"), False, torch.long, None)
    out, _ = next(batches.images(streams.image_loader(stream, 4, True, 0, torch.device("cpu"), 0)))
    # jittering normalised values would clamp them into [0, 1]; black must stay at -mean/std
    expected = -torch.tensor(classifiers.IMAGENET_MEAN) / torch.tensor(classifiers.IMAGENET_STD)
    assert torch.allclose(out[:, :, 0, 0], expected.expand(4, 3), atol=1e-5)
    assert backbones.preprocess("efficientnet_lite0").mean == (0.5, 0.5, 0.5)


class CountingImages:
    """A huge set that makes its images on demand and counts them: a loop that stacked a split would read all."""

    def __init__(self, n: int) -> None:
        self.n, self.read = n, 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray:
        self.read += 1
        return np.full((28, 28), i % 251, np.uint8)


def test_the_loop_streams_images_and_never_reads_a_whole_split():
    images = CountingImages(20_000)
    targets = np.arange(20_000) % 2
    split = np.where(np.arange(20_000) % 10 == 0, "test", "train")
    data = LabelledImages("big", images, targets, split, ["even", "odd"])
    cfg = TrainConfig(strategy=StrategyConfig("finetune"), epochs=2, image_size=32, batch_size=8, limit_batches=2,
                      workers=0)
    events = list(fit(data, cfg))
    assert [type(e).__name__ for e in events] == ["EpochEnd", "EpochEnd", "Predictions"]
    # per epoch 2 training batches of 8 and 2 validation batches of 256 (kept after the first pass); 2 test batches
    assert images.read == 2 * 2 * 8 + 2 * 256 + 2 * 256
    assert len(events[-1].index) == 512


class MeanBrightness:
    """A new objective, written outside the loop: regress each image's mean pixel value, scored by MAE only."""

    outputs, target_dtype, headline, open_set = 1, torch.float32, "MAE", False

    def sampler(self, train_targets, batch_size, seed):
        return None  # shuffled batches

    def to(self, device):
        return self

    def loss(self, out, target):
        return torch.nn.functional.mse_loss(out.float().squeeze(1), target / 255)

    def train_loss_units(self, mean_loss):
        return mean_loss

    def correct(self, out, target):
        return None

    def evaluate(self, out, target):
        error = (out.squeeze(1) * 255 - target).abs().mean().item()
        return error, {"MAE": error}

    def test_outputs(self, out):
        return out.squeeze(1).numpy() * 255

    def export(self, model):
        return model.state_dict()


def test_a_new_objective_plugs_into_the_loop_unchanged():
    data = tiny()
    brightness = np.array([img.mean() for img in data.images])
    reg = LabelledImages("brightness", data.images, brightness, data.split, None)
    events = list(fit(reg, TrainConfig(strategy=StrategyConfig("finetune"), epochs=1, image_size=32),
                      objective=MeanBrightness()))
    assert isinstance(events[0], EpochEnd) and set(events[0].val) == {"MAE"} and events[0].train_accuracy is None
    assert events[-1].outputs.shape == (len(data.subset("test")),)


def test_a_config_round_trips_through_the_run_store_form():
    cfg = TrainConfig(backbone="resnet18", head="mlp", strategy=StrategyConfig("gradual", lr=3e-4, head_epochs=2),
                      augment=("flip", "crop"), epochs=7, limit_batches=5)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.with_strategy("frozen").strategy == StrategyConfig("frozen", lr=3e-4, head_epochs=2)
