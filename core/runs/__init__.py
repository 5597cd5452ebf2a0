"""Every run of every study in one place: a row per run for the Runs page and `python -m core.runs`, and the
labels a user gives them (name, tags, note, the pinned baseline). Rows are read from what the runs recorded;
nothing is run again, so listing stays cheap."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace

from core import numbers
from core.engine import replicates
from core.engine.store import Run, RunStore
from core.studies import index


def settings_note(run: Run) -> str:
    """What a run's stored config says to this version: "" when every setting is known; else the settings an older
    version stored that this one no longer has (the run reads them with today's defaults for anything new)."""
    study = index.find(run.experiment)
    if study is None:
        return f"its study {run.experiment!r} is unknown to this version; the run is left as it is"
    try:
        return study.read_config(run)[1]
    except (TypeError, ValueError, KeyError) as exc:
        return f"its settings cannot be read by this version ({exc})"


COLUMNS = ("id", "name", "status", "study", "dataset", "backbone", "strategy", "epochs", "headline", "value",
           "seconds", "created", "tags", "note", "pinned", "message", "processes", "seed", "setting")


@dataclass(frozen=True)
class Row:
    """One run as the list shows it."""
    id: str
    name: str
    status: str
    study: str
    dataset: str
    backbone: str
    strategy: str
    epochs: str  # "3 of 8": epochs done of those asked for
    headline: str  # what `value` is: "test mCA", "validation AUC" ("" when the study has none)
    value: float | None
    seconds: float
    created: str  # local time, "2026-11-24 00:42"
    tags: tuple[str, ...]
    note: str
    pinned: bool
    message: str
    processes: int = 1  # the world size of a distributed (torchrun) run
    seed: int | None = None
    setting: str = ""  # its replicates' group: "a1b2c3 · 3 seeds" (the same six characters for one setting)

    def as_dict(self) -> dict:
        return {c: (list(getattr(self, c)) if c == "tags" else getattr(self, c)) for c in COLUMNS}


def _headline(run: Run) -> tuple[str, float | None]:
    """The same number as the home page's tile, by the run's study."""
    study = index.find(run.experiment)
    if study is None or study.headline is None:
        return "", None
    if run.status != "done":  # a run that did not finish has no test numbers; its last validation says something
        return study.headline.metric, None
    try:
        value = study.headline.value(run)
    except (OSError, ValueError, KeyError):
        value = None
    return study.headline.metric, None if value is None else numbers.number(value)  # an Undefined keeps its reason


def row(run: Run) -> Row:
    metric, value = _headline(run)
    cfg = run.config
    asked = cfg.get("epochs")
    done = len(run.history)
    return Row(
        id=run.id, name=run.name, status=run.status, study=index.title(run.experiment),
        dataset=str(cfg.get("dataset", "")), backbone=str(cfg.get("architecture") or cfg.get("backbone")
                                                           or run.base_variant),
        strategy=str(cfg.get("label") or cfg.get("strategy") or cfg.get("start") or ""),
        epochs=f"{done} of {asked}" if isinstance(asked, int) and run.experiment != "face_detection" else str(done),
        headline=metric, value=value, seconds=0.0 if run.status == "queued" else round(run.seconds, 1),
        created=time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created)), tags=run.tags, note=run.note,
        pinned=run.pinned, message=run.message, processes=numbers.count(run.metrics.get("world_size"), 1),
        seed=numbers.count(cfg.get("seed"), 0) if "seed" in cfg else None)


def setting_names(runs: list[Run]) -> dict[str, str]:
    """Run id -> its setting's group as the lists show it: six characters naming the setting (everything but the
    seed) and how many of its seeds are done, so that replicates sort and read together."""
    out = {}
    for study in index.STUDIES:
        for g in replicates.groups(study, runs):
            short = hashlib.sha256(replicates.key(g.setting).encode()).hexdigest()[:6]
            for r in (*g.done, *g.failed, *g.live):
                out[r.id] = f"{short} · {g.count_words()}"
    return out


def rows(store: RunStore | None = None) -> list[Row]:
    """Every run, newest first, each with its setting's group."""
    runs = (store or RunStore()).list()
    groups = setting_names(runs)
    return [replace(row(r), setting=groups.get(r.id, "")) for r in reversed(runs)]


def find(store: RunStore, ref: str) -> Run:
    """A run by its id, a unique prefix or suffix of it, or its name (KeyError saying what matched)."""
    runs = store.list()
    exact = [r for r in runs if ref in (r.id, r.name)]
    hits = exact or [r for r in runs if r.id.startswith(ref) or r.id.endswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise KeyError(f"no run {ref!r} in {store.path}; `python -m core.runs list` shows them")
    raise KeyError(f"{ref!r} matches {len(hits)} runs ({', '.join(r.id for r in hits[:5])}); give more of the id")


def replicates_note(runs: list[Run]) -> str:
    """Whether these runs are replicates of one setting, in a sentence: their seeds, or what else differs."""
    studies = {r.experiment for r in runs}
    if len(runs) < 2:
        return ""
    if len(studies) > 1:
        return f"Not replicates: runs of {len(studies)} studies."
    study = index.find(runs[0].experiment)
    if study is None:
        return ""
    try:
        group = replicates.group_of(study, runs)
    except (TypeError, ValueError) as exc:
        return f"{str(exc)[0].upper()}{str(exc)[1:]}."
    seeds = [numbers.count(r.config.get("seed"), 0) for r in runs]
    if len(set(seeds)) < len(seeds):
        return f"The same setting, but not all different seeds ({', '.join(map(str, seeds))}): reruns of a seed."
    return (f"Replicates of one setting: seeds {', '.join(map(str, sorted(seeds)))} ({group.count_words()} of it "
            f"done in this store); `python -m core.experiments {study.name} --seeds N` compares them across seeds.")
