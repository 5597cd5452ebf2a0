"""Replicates: the runs of one setting trained with different seeds, grouped wherever runs are listed.

A setting is a run's whole config read by its study (older stored configs in today's keys) less the seed and what
only says how the run was carried out (worker processes). Runs whose settings are equal are replicates of one
another; two runs that differ in anything else are not, and `differences` says in what. "Repeat ×N" asks for seeds
seed, seed + 1, …, seed + N − 1 of a setting; the ones already done, queued or running are not asked again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.engine import config as settings
from core.engine.seeding import seeded
from core.engine.store import LIVE, Run
from core.engine.study import Study

NOT_SETTINGS = ("seed", "workers")  # a replicate's own, or how it was carried out


def setting(study: Study, run: Run) -> dict:
    """A run's setting: its config as today's study reads it, less the seed and how it was carried out."""
    return setting_of(study.config_of(run))


def setting_of(cfg: Any) -> dict:
    """A config's setting: everything but NOT_SETTINGS."""
    return {k: v for k, v in settings.to_dict(cfg).items() if k not in NOT_SETTINGS}


def key(setting_dict: dict) -> str:
    return json.dumps(setting_dict, sort_keys=True, default=str)


def differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    """The fields two settings differ in, as "lr (0.001 vs 0.01)"; inside a nested setting (a freeze strategy's)
    the inner field, as "strategy.name (finetune vs frozen)"."""
    out = []
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            out += differences(x, y, f"{prefix}{k}.")
        elif x != y:
            out.append(f"{prefix}{k} ({x} vs {y})")
    return out


@dataclass(frozen=True)
class Group:
    """The runs of one setting: its done runs (the newest per seed) and how many seeds were asked for."""

    setting: dict
    done: tuple[Run, ...]  # one per seed, in seed order
    failed: tuple[Run, ...]  # failed or stopped, and no done run of that seed
    live: tuple[Run, ...]  # queued or running

    @property
    def seeds(self) -> list[int]:
        return [int(r.config.get("seed", 0)) for r in self.done]

    @property
    def asked(self) -> int:
        return len(self.done) + len(self.failed) + len(self.live)

    def count_words(self) -> str:
        return count_words(len(self.done), self.asked)


def count_words(n: int, asked: int) -> str:
    """"3 seeds", or "2 of 3 seeds" when some failed, stopped, could not be scored or have not finished yet."""
    unit = "seed" if asked == 1 else "seeds"
    return f"{n} {unit}" if n == asked else f"{n} of {asked} {unit}"


def groups(study: Study, runs: list[Run]) -> list[Group]:
    """The study's runs grouped by setting, in the order each setting first appears (oldest run first). A run whose
    stored config this version cannot read is left out."""
    by_key: dict[str, list[Run]] = {}
    found: dict[str, dict] = {}
    for run in sorted((r for r in runs if r.experiment == study.name), key=lambda r: r.created):
        try:
            s = setting(study, run)
        except (TypeError, ValueError):
            continue
        k = key(s)
        found.setdefault(k, s)
        by_key.setdefault(k, []).append(run)
    return [_group(found[k], members) for k, members in by_key.items()]


def _group(setting_dict: dict, runs: list[Run]) -> Group:
    done: dict[int, Run] = {}
    for r in runs:
        if r.status == "done":
            done[int(r.config.get("seed", 0))] = r  # the newest of a seed wins
    failed = {int(r.config.get("seed", 0)): r for r in runs
              if r.status not in LIVE and r.status != "done" and int(r.config.get("seed", 0)) not in done}
    live = tuple(r for r in runs if r.status in LIVE)
    return Group(setting_dict, tuple(done[s] for s in sorted(done)), tuple(failed[s] for s in sorted(failed)), live)


def group_of(study: Study, runs: list[Run]) -> Group:
    """These runs as one group; ValueError naming the first run whose setting differs, and in what."""
    if not runs:
        raise ValueError("no runs to group")
    first = setting(study, runs[0])
    for r in runs[1:]:
        diff = differences(first, setting(study, r))
        if diff:
            raise ValueError(f"runs {runs[0].id} and {r.id} are not replicates: they differ in "
                             f"{', '.join(diff)}, not only in the seed")
    return _group(first, runs)


def missing(study: Study, cfg: Any, n: int, runs: list[Run]) -> list[Any]:
    """The configs of the N seeds of this setting that no done, queued or running run has yet."""
    wanted = setting_of(cfg)
    have = {int(r.config.get("seed", 0)) for r in runs if r.experiment == study.name
            and (r.status == "done" or r.status in LIVE) and _same(study, r, wanted)}
    return [c for c in seeded(cfg, n) if c.seed not in have]


def _same(study: Study, run: Run, wanted: dict) -> bool:
    try:
        return setting(study, run) == wanted
    except (TypeError, ValueError):
        return False
