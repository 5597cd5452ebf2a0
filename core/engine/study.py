"""What a study is to the rest of the dashboard: one `Study` object, exported by its package under core/studies.

A study compares model variants on one task and dataset. Its package holds its config (a frozen dataclass with
named presets), how a config becomes queued runs, how one run is trained (`train(run, recorder, device)`,
called by the one worker inside the run's recording), its experiment (the `Comparison` the page draws and
`python -m core.experiments NAME` prints), and its final numbers. The list of studies (core.studies.index)
holds these objects; the registry, the CLIs, prepare, the Runs page and the pages read it, never strings."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from core.engine import config as settings
from core.engine.finals import Final, recorded
from core.engine.seeding import seeded
from core.engine.store import Recorder, Run, RunStore
from core.metrics.hierarchical import Replicate
from core.tasks import Task

Trainer = Callable[[Run, Recorder, torch.device], Iterator[object]]
Scores = dict[str, Replicate]  # metric key -> one model's test metric as a function of item draw counts


@dataclass(frozen=True)
class Headline:
    """The one number the home page's tile and the runs list show for a run of the study."""
    metric: str  # "test mCA", "validation AUC"
    value: Callable[[Run], float | None]  # from what the run recorded; None when it has no such number
    reference: tuple[str, str] = ("", "")  # (bar label, metrics key): a number its runs record for the pretrained model


@dataclass(frozen=True)
class Published:
    """A number the original study published, for the talk's slide beside ours, and what differs here."""
    claim: str  # "AlexNet AUC 0.741 → 0.824 after fine-tuning"
    differs: str  # "LFW faces there; cartoon faces and EfficientNet-Lite0 here"


@dataclass(frozen=True, eq=False)
class Study:
    name: str  # the runs' `experiment`, the experiments CLI's argument: "face_detection"
    title: str  # as the pages name it: "Face detection"
    task: Task  # what its variants predict and how their outputs are scored (core.tasks)
    config: type  # the frozen dataclass of its settings (core.engine.config writes and reads it)
    presets: Mapping[str, Any]  # named configs: "quick" (what prepare trains) and "default" at least
    queue: Callable[[Any, RunStore], list[str]]  # a config's queued runs, its data checked first; their ids
    train: Trainer  # one queued run, inside its recording: its events
    comparison: Callable[..., Any] | None = None  # (study, dataset=, store=, device=, **options) -> Comparison
    finals: Callable[[Run, int], list[Final]] = recorded  # a finished run's final numbers with CIs (run, resamples)
    headline: Headline | None = None
    labels: tuple[str, ...] = ()  # keys a run stores beside its settings (names, class lists): not settings
    legacy: Callable[[dict], dict] = dict  # an older version's stored config, in today's keys
    defaults: Callable[[], list[Any]] = list  # the configs `prepare` trains on a fresh install (none: it trains none)
    prepared: Callable[[], list[dict]] = list  # their stored form, to tell whether they exist already
    # Across seeds (core.experiments.seeds): a done run's test metrics as functions of item counts, the untrained
    # variants beside them (name -> metrics), the settings `--seeds N` repeats, and which metrics are errors.
    scores: Callable[[Run, torch.device], Scores] | None = None
    untrained: Callable[[str, torch.device], dict[str, Scores]] = lambda dataset, device: {}
    seed_settings: Callable[[], list[Any]] | None = None  # None: the defaults prepare trains
    seeds_drive: str = ""  # what the seed changes in a run, in words for the page
    lower_is_better: frozenset[str] = frozenset()
    # For the talk (core.talk): the question the study answers, the original study's numbers, and its key figure for
    # compared runs (variant name -> one done run of it; dataset; device), None: the validation curves across seeds.
    question: str = ""
    published: tuple[Published, ...] = ()
    figure: Callable[[dict[str, Run], str, torch.device], Any] | None = None
    figure_title: str = ""  # what the figure shows, its markers explained

    def __post_init__(self) -> None:
        missing = [p for p in ("quick", "default") if p not in self.presets]
        if missing:
            raise ValueError(f"study {self.name!r} lacks the preset(s) {missing}")

    @property
    def metrics(self) -> tuple[str, ...]:
        """Keys of each variant's metrics in its Comparison, the headline first."""
        return self.task.metrics

    @property
    def default_dataset(self) -> str:
        return self.task.default_dataset

    def config_of(self, run: Run) -> Any:
        """The config a run was (or is to be) trained with: new fields at their defaults."""
        return self.read_config(run)[0]

    def read_config(self, run: Run) -> tuple[Any, str]:
        """(config, what to say about settings an older version stored that this one no longer has)."""
        cfg, removed = settings.read(self.config, self.legacy(dict(run.config)), self.labels)
        return cfg, settings.removed_message(removed)

    def parser(self, prog: str, description: str = "") -> argparse.ArgumentParser:
        """Its training command line: --preset, one flag per config field, --runs for queued runs, --cpu."""
        p = argparse.ArgumentParser(prog=prog, description=description or f"Train {self.title} runs.")
        p.add_argument("--preset", choices=sorted(self.presets), default="default",
                       help="the settings the flags start from")
        settings.add_flags(p, self.config)
        p.add_argument("--runs", nargs="+", metavar="RUN_ID", help="carry out these queued runs with their stored "
                       "configs (the other settings are ignored)")
        p.add_argument("--seeds", type=int, default=1, metavar="N", help="repeat each config with seeds seed … seed+N-1 "
                       "(1 to 20): replicates, compared across seeds by python -m core.experiments NAME --seeds N")
        p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
        return p

    def configs(self, args: argparse.Namespace) -> list[Any]:
        """The configs a parsed command line asks for, each repeated with --seeds N seeds."""
        return [c for cfg in settings.from_flags(args, self.presets[args.preset])
                for c in seeded(cfg, getattr(args, "seeds", 1))]


def last_validation(metric: str) -> Callable[[Run], float | None]:
    """A Headline value: the run's last epoch's validation number."""
    def value(run: Run) -> float | None:
        history = run.metrics.get("history") or []
        return history[-1].get("val", {}).get(metric) if history else None
    return value
