"""Transfer learning on a labelled set: a backbone trained from scratch, frozen with a new head, or fine-tuned
with a freeze strategy, compared on the test split. One package, two studies that share its trainer and its
experiment: classification (mCA, F1, per-class accuracy) and regression (Pearson, Spearman, MAE).

    python -m core.studies.transfer --dataset fashion_mnist_imbalanced3 --strategies scratch frozen finetune
"""

from __future__ import annotations

from dataclasses import replace

from core import tasks
from core.engine.study import Headline, Published, Study
from core.studies.transfer import experiment, train


def _prepared(task: str):  # noqa: ANN202 - the Study's `prepared`
    def configs() -> list[dict]:
        cfg = train.QUICK[task]
        return [train.run_config(cfg.dataset, train._checked(cfg.dataset, cfg), cfg)]
    return configs


def _study(task: str, title: str, metric: str, label: str, question: str, published: tuple = ()) -> Study:
    quick = train.QUICK[task]
    return Study(name=task, title=title, task=tasks.get(task), config=train.TransferConfig,
                 presets={"quick": quick, "default": replace(train.TransferConfig(), dataset=quick.dataset,
                                                             head=quick.head)},
                 queue=train.queue_config, train=train.train_run, comparison=experiment.default_comparison,
                 finals=experiment.finals, headline=Headline(label, experiment.test_value(metric)),
                 labels=train.LABELS, legacy=train.legacy, defaults=lambda: [quick], prepared=_prepared(task),
                 scores=experiment.scores, untrained=experiment.yours, seeds_drive=SEEDS_DRIVE,
                 lower_is_better=frozenset({"MAE"}),
                 seed_settings=lambda: [quick.with_strategy(s) for s in experiment.DEFAULT_STRATEGIES],
                 question=question, published=published,
                 figure=experiment.scatter if task == "regression" else None,
                 figure_title="Predicted against actual on the test split (dotted: perfect)" if task == "regression"
                 else "")


QUESTION = ("On a small, imbalanced set, what does an ImageNet backbone buy: trained from scratch, frozen with a new "
            "head, or fine-tuned?")
QUESTION_REGRESSION = ("Can an ImageNet backbone with a grafted MLP head read a continuous attribute from a face, and "
                       "does unfreezing the backbone help?")
PUBLISHED_REGRESSION = (Published("frozen backbone: Pearson r 0.549 for age",
                                  "age on real faces there; here cartoon-face fatness (the offline stand-in for age) "
                                  "with MobileNetV2 and the MLP head"),)
SEEDS_DRIVE = ("the new head's initial weights (and every weight, from scratch), the order of the training batches, "
               "the augmentations drawn and the class-balanced sampler; the train/val/test split stays the data's")


CLASSIFICATION, REGRESSION = (_study(task, *about) for task, about in zip(train.TASKS, (
    ("Transfer: classification", "mCA", "test mCA", QUESTION),
    ("Transfer: regression", "pearson", "test Pearson r", QUESTION_REGRESSION, PUBLISHED_REGRESSION)),
    strict=True))
