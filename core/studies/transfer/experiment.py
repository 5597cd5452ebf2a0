"""Backbone transfer: one backbone trained from scratch, frozen and fine-tuned (or any strategy), for
classification or regression, scored on the same test split.

Every variant is a finished run in the run store (history, test outputs, weights), so the page,
the CLI and the tests build the Comparison from runs the same way:

    python -m core.experiments classification --json   # MobileNetV2 on the imbalanced Fashion-MNIST set
    python -m core.experiments regression --json       # MobileNetV2 + MLP head on cartoon-face fatness
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from core import devices, numbers, plots, predictors, registry, tasks
from core.data import catalogue
from core.data.types import open_image
from core.engine.finals import Final, recorded
from core.engine.loop import TrainConfig, split_indices
from core.engine.store import Run, RunStore
from core.engine.study import Scores, Study
from core.experiments.comparison import Comparison
from core.metrics import classification, paired, regression
from core.metrics.hierarchical import Replicate
from core.models import imported
from core.studies.transfer import train as transfer
from core.weights import WeightsUnavailable

DEFAULT_STRATEGIES = ("scratch", "frozen", "finetune")


def quick_config(task: str) -> TrainConfig:
    """The quick default comparison's settings (transfer.QUICK)."""
    if task not in transfer.QUICK:
        raise ValueError(f"unknown task {task!r}; choose from {list(transfer.QUICK)}")
    return transfer.QUICK[task]


@dataclass(frozen=True)
class Outcome:
    """One finished run's test-split outputs and its training history."""

    variant: str
    run_id: str
    strategy: str
    index: np.ndarray  # (N,) positions in the dataset
    targets: np.ndarray  # (N,) class index or target value
    outputs: np.ndarray  # (N, C) class probabilities, or (N,) predicted values
    history: list[dict]  # one EpochEnd as a dict per epoch
    seconds: float
    trainable: int

    @property
    def predicted(self) -> np.ndarray:
        """(N,) predicted class index, or predicted value."""
        return self.outputs.argmax(1) if self.outputs.ndim == 2 else self.outputs


def outcome(run: Run) -> Outcome:
    """A finished run's stored outputs (ValueError when the run or its file is unusable)."""
    if run.status != "done":
        raise ValueError(f"run {run.id} is {run.status}, not done")
    try:
        with np.load(transfer.predictions_path(run.checkpoint), allow_pickle=False) as f:
            index, targets, outputs = f["index"], f["targets"], f["outputs"]
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"run {run.id}: its test outputs cannot be read ({exc})") from exc
    history = run.metrics.get("history", [])
    return Outcome(registry.run_variant(run).name, run.id, run.config.get("strategy", "?"), index, targets, outputs, history,
                   float(run.metrics.get("seconds", 0.0)), numbers.count(history[-1].get("trainable"), 0) if history else 0)


def matched_classes(theirs: list[str], ours: list[str]) -> list[int]:
    """For each of the dataset's classes, the column of an imported model's output with that name; ValueError
    naming the names that differ when the two lists are not the same names."""
    if sorted(theirs) != sorted(ours):
        only_theirs = [c for c in theirs if c not in ours]
        only_ours = [c for c in ours if c not in theirs]
        raise ValueError(f"its classes do not match the dataset's by name: only yours: "
                         f"{', '.join(only_theirs) or '–'}; only the dataset's: {', '.join(only_ours) or '–'}")
    return [theirs.index(c) for c in ours]


IMPORT_BATCH = 64


def imported_outcome(variant: registry.Variant, dataset: str, like: Outcome, device: torch.device) -> Outcome:
    """An imported model ("yours") run over the test images `like` (a finished run's outcome) was scored on, its
    classes matched to the dataset's by name: an Outcome compared like a run's. ValueError when they do not match."""
    data = catalogue.labelled(dataset)
    predictor = predictors.build(variant, device)
    if data.classes is not None:
        if variant.task != "classification":
            raise ValueError(f"{variant.name} is a {variant.task} model; {dataset} is a classification set")
        columns = matched_classes(list(predictor.labels), list(data.classes))
    elif variant.task != "regression":
        raise ValueError(f"{variant.name} is a {variant.task} model; {dataset} is a regression set")
    chunks = []
    for start in range(0, len(like.index), IMPORT_BATCH):
        x = predictor.batch([open_image(data.images[int(i)]) for i in like.index[start:start + IMPORT_BATCH]])
        with torch.inference_mode():
            out = predictor.model(x).float()
        chunks.append((out.softmax(1)[:, columns] if data.classes is not None else out.reshape(-1)).cpu().numpy())
    outputs = np.concatenate(chunks) if chunks else np.zeros((0,))
    return Outcome(variant.name, "", "yours", like.index, like.targets, outputs, [], 0.0, 0)


def yours(dataset: str, device: torch.device) -> dict[str, Scores]:
    """Your imported models whose outputs fit this set (its task; a classifier's classes by name), scored on its test
    split: beside the runs as variants with no training randomness, in the across-seed comparison and the talk."""
    found: dict[str, Scores] = {}
    mine = [m for m in imported.listing() if m.task in transfer.TASKS]
    if not mine:
        return found
    data = catalogue.labelled(dataset)
    test = split_indices(data)[2]
    for meta in (m for m in mine if m.task == data.task):
        try:
            o = yours_outcome(meta.name, meta.sha256, dataset, tuple(test), device)
        except (ValueError, OSError, WeightsUnavailable):
            continue  # another set's classes, or a file gone: the Models page says which
        if data.classes is not None:
            summary = classification.summary_of_counts(o.targets, o.predicted, list(data.classes))
            found[f"yours: {meta.name}"] = {k: Replicate(None, o.index, _pick(summary, k)) for k in ("mCA", "mF1")}
        else:
            found[f"yours: {meta.name}"] = {k: Replicate(None, o.index, regression.metric_of_counts(
                o.targets, o.predicted, k)) for k in ("pearson", "spearman", "MAE")}
    return found


@functools.lru_cache(maxsize=8)
def yours_outcome(name: str, sha256: str, dataset: str, test: tuple[int, ...], device: torch.device) -> Outcome:
    """Your model `name` (its sha256 keys the cache) over these test positions of the set: imported_outcome."""
    data = catalogue.labelled(dataset)
    index = np.asarray(test, dtype=np.int64)
    like = Outcome("", "", "", index, np.asarray(data.targets)[index], np.zeros(len(index)), [], 0.0, 0)
    return imported_outcome(registry.imported_variant(imported.get(name)), dataset, like, device)


def runs_on(dataset: str, task: str, store: RunStore | None = None) -> list[Run]:
    """Finished transfer runs on this dataset, oldest first."""
    return [r for r in (store or RunStore()).list("done")
            if r.experiment == task and r.config.get("dataset") == dataset and "backbone" in r.config]


def reference(outcomes: list[Outcome], baseline: str = "") -> Outcome:
    """What the others are compared against: the run named (by id), else the scratch run, else the first."""
    if baseline:
        found = [o for o in outcomes if o.run_id == baseline]
        if not found:
            raise ValueError(f"the baseline run {baseline} is not among the compared runs "
                             f"{[o.run_id for o in outcomes]}")
        return found[0]
    return next((o for o in outcomes if o.strategy == "scratch"), outcomes[0])


def _classification(outcomes: list[Outcome], classes: list[str], n_boot: int, ref: Outcome
                    ) -> tuple[dict, dict, list]:
    summaries = {o.variant: classification.summary_of_counts(o.targets, o.predicted, classes) for o in outcomes}
    metrics = {o.variant: {"accuracy": float((o.predicted == o.targets).mean()), **summaries[o.variant](
        np.ones(len(o.targets), np.int64))} for o in outcomes}
    extra = {"classes": classes,
             "confusion": {o.variant: classification.confusion_matrix(o.targets, o.predicted, len(classes)).tolist()
                           for o in outcomes},
             "predictions": {o.variant: {"index": o.index.tolist(), "true": o.targets.astype(int).tolist(),
                                         "pred": o.predicted.tolist(), "conf": o.outputs.max(1).tolist()}
                             for o in outcomes}}
    comparisons = []
    for o in outcomes:
        if o is ref:
            continue
        comparisons.append((o.variant, ref.variant, paired.paired_bootstrap(
            _pick(summaries[o.variant], "mCA"), _pick(summaries[ref.variant], "mCA"), len(o.targets), "mCA",
            n_boot=n_boot)))
        comparisons.append((o.variant, ref.variant, paired.mcnemar(o.predicted == o.targets,
                                                                   ref.predicted == ref.targets)))
    return metrics, extra | {"ci95": _cis(summaries, outcomes, n_boot)}, comparisons


def _regression(outcomes: list[Outcome], n_boot: int, ref: Outcome) -> tuple[dict, dict, list]:
    summaries = {o.variant: regression.summary_of_counts(o.targets, o.predicted) for o in outcomes}
    metrics = {o.variant: summaries[o.variant](np.ones(len(o.targets), np.int64)) for o in outcomes}
    extra = {"points": {o.variant: {"index": o.index.tolist(), "true": o.targets.tolist(),
                                    "pred": o.predicted.tolist()} for o in outcomes}}
    comparisons = []
    for o in outcomes:
        if o is ref:
            continue
        for name in ("pearson", "MAE"):
            comparisons.append((o.variant, ref.variant, paired.paired_bootstrap(
                regression.metric_of_counts(o.targets, o.predicted, name),
                regression.metric_of_counts(ref.targets, ref.predicted, name), len(o.targets), name,
                n_boot=n_boot)))
    return metrics, extra | {"ci95": _cis(summaries, outcomes, n_boot)}, comparisons


def _pick(summary: Callable[[np.ndarray], dict[str, float]], name: str) -> Callable[[np.ndarray], float]:
    return lambda counts: summary(counts)[name]


def _cis(summaries: dict, outcomes: list[Outcome], n_boot: int) -> dict:
    return {o.variant: {k: list(v) for k, v in paired.bootstrap_cis(summaries[o.variant], len(o.targets),
                                                                    n_boot).items()} for o in outcomes}


def compare(outcomes: list[Outcome], task: str, dataset: str, classes: list[str] | None, device: str = "cpu",
            n_boot: int = paired.N_BOOT, baseline: str = "") -> Comparison:
    """Metrics with bootstrap CIs per variant, and each variant against the baseline (a run id; by default the
    scratch run, else the first) on the same test images: paired bootstrap of mCA and McNemar (classification), of
    Pearson and MAE (regression)."""
    if task not in transfer.TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {list(transfer.TASKS)}")
    if not outcomes:
        raise ValueError(f"no finished runs on {dataset} to compare")
    sizes = {len(o.targets) for o in outcomes}
    if len(sizes) > 1 or any(not np.array_equal(o.index, outcomes[0].index) for o in outcomes):
        raise ValueError("the runs were scored on different test images (the dataset changed?); train them again")
    ref = reference(outcomes, baseline)
    if task == "classification":
        metrics, extra, comparisons = _classification(outcomes, classes or [], n_boot, ref)
    else:
        metrics, extra, comparisons = _regression(outcomes, n_boot, ref)
    for o in outcomes:
        metrics[o.variant] |= {"train_seconds": o.seconds, "trainable_params": float(o.trainable)}
    extra |= {"history": {o.variant: o.history for o in outcomes},
              "runs": {o.variant: {"run_id": o.run_id, "strategy": o.strategy} for o in outcomes},
              "test_samples": len(outcomes[0].targets), "baseline": ref.variant}
    return Comparison(task, f"{dataset}/test", device, metrics, comparisons, extra)


def train_quick(task: str, dataset: str | None = None, strategies: tuple[str, ...] = DEFAULT_STRATEGIES,
                store: RunStore | None = None, device: torch.device | None = None,
                cfg: TrainConfig | None = None) -> Iterator[transfer.Event]:
    """Train the quick default variants, one run each; events as they come."""
    cfg = cfg or quick_config(task)
    for name in strategies:
        yield from transfer.train(dataset or tasks.get(task).default_dataset, cfg.with_strategy(name), store, device)


def run(task: str, dataset: str | None = None, strategies: tuple[str, ...] = DEFAULT_STRATEGIES,
        store: RunStore | None = None, device: torch.device | None = None, cfg: TrainConfig | None = None,
        n_boot: int = paired.N_BOOT) -> Comparison:
    """Train the default variants now and compare them (the CLI's path)."""
    store = store or RunStore()
    device = device or devices.pick_device()
    dataset = dataset or tasks.get(task).default_dataset
    recorded = [e.run_id for e in train_quick(task, dataset, strategies, store, device, cfg)
                if isinstance(e, transfer.Finished)]
    data = catalogue.labelled(dataset)
    return compare([outcome(store.get(r)) for r in recorded], task, dataset, data.classes, device.type, n_boot)


def default_comparison(study: Study, dataset: str | None = None, store: RunStore | None = None,
                       device: torch.device | None = None, n_boot: int = paired.N_BOOT) -> Comparison:
    """The experiments CLI's entry: the quick default variants, trained now and compared."""
    return run(study.name, dataset, store=store, device=device, n_boot=n_boot)


FINAL_METRICS = {"mCA": "test mCA", "mF1": "test macro F1", "pearson": "test Pearson r",
                 "spearman": "test Spearman ρ", "MAE": "test MAE"}  # metric key: its final number's name


def finals(run: Run, n_boot: int = paired.N_BOOT_LIVE) -> list[Final]:
    """A finished run's final numbers, computed from its test outputs with CIs from resampling test images: mCA
    and macro F1 (classification); Pearson, Spearman and MAE (regression)."""
    if run.status != "done":
        return []
    if "final" in run.metrics:
        return recorded(run)
    try:
        o = outcome(run)
    except ValueError:
        return []
    if len(o.targets) < 2:
        return []
    summary, keys = _final_summary(run, o)
    values, cis = paired.values_and_cis(summary, len(o.targets), n_boot)
    over = f"{len(o.targets):,} test images"
    return [Final(FINAL_METRICS[key], float(values[key]), *cis[key], over) for key in keys]


def _final_summary(run: Run, o: Outcome) -> tuple[Callable[[np.ndarray], dict[str, float]], tuple[str, ...]]:
    """The run's metrics as a function of per-image draw counts, and the keys its final numbers report."""
    if run.experiment == "classification":
        labels = [str(c) for c in run.config.get("labels") or []]
        return classification.summary_of_counts(o.targets, o.predicted, labels), ("mCA", "mF1")
    return regression.summary_of_counts(o.targets, o.predicted), ("pearson", "spearman", "MAE")


def history_frame(history: dict[str, list[dict]]) -> pd.DataFrame:
    """Learning curves as rows (variant, epoch, split, loss, and the metrics each split has): for plots."""
    rows = []
    for variant, epochs in history.items():
        for e in epochs:
            epoch = e["epoch"] + 1
            train = {"loss": e["train_loss"]}
            if e.get("train_accuracy") is not None:
                train["accuracy"] = e["train_accuracy"]
            rows.append({"variant": variant, "epoch": epoch, "split": "train", **train})
            val = {"loss": e["val_loss"], **e["val"]}
            rows.append({"variant": variant, "epoch": epoch, "split": "val", **val, **numbers.why_columns(val)})
    return pd.DataFrame(rows)


def unfreeze_epochs(history: dict[str, list[dict]]) -> dict[str, list[float]]:
    """Where each variant opened more of its backbone: between epochs whose trainable count grew."""
    out = {}
    for variant, epochs in history.items():
        counts = [e["trainable"] for e in epochs]
        out[variant] = [i + 0.5 for i in range(1, len(counts)) if counts[i] > counts[i - 1]]
    return out


def scores(run: Run, device: torch.device | None = None) -> Scores:
    """A done run's test metrics as functions of per-image draw counts, for the across-seed comparison: mCA and
    macro F1 (classification); Pearson, Spearman and MAE (regression). ValueError when its outputs are gone."""
    o = outcome(run)
    summary, keys = _final_summary(run, o)
    seed = int(run.config.get("seed", 0))
    if run.experiment == "regression":  # one metric per draw: thousands of draws, three metrics
        return {k: Replicate(seed, o.index, regression.metric_of_counts(o.targets, o.predicted, k)) for k in keys}
    return {k: Replicate(seed, o.index, _pick(summary, k)) for k in keys}


def test_value(metric: str):  # noqa: ANN201 - a Headline's value function
    """A finished run's test number for the home page's tile and the runs list: from its saved test outputs."""
    def value(run: Run) -> float | None:
        try:
            o = outcome(run)
        except ValueError:
            return None
        if run.experiment == "classification":
            labels = [str(c) for c in run.config.get("labels") or []]
            summary = classification.summary_of_counts(o.targets, o.predicted, labels)
            return float(summary(np.ones(len(o.targets), np.int64))[metric])
        return float(getattr(regression.evaluate(o.targets, o.predicted), metric))
    return value


def scatter(runs: dict[str, Run], dataset: str = "", device: torch.device | None = None) -> go.Figure:
    """The talk's figure for regression: predicted against actual on the test split, one colour per compared run."""
    outcomes = {n: outcome(r) for n, r in runs.items()}
    return plots.scatter_figure({n: (o.targets, o.predicted) for n, o in outcomes.items()},
                                {n: regression.evaluate(o.targets, o.predicted) for n, o in outcomes.items()})
