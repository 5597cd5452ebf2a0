"""The across-seed Comparison of any study: each setting's replicates (core.engine.replicates) scored on the test
split, each variant's mean over its seeds with the seeds' spread and a CI over seeds and test items, and each Δ
with its hierarchical-bootstrap CI and P(A better than B) (core.metrics.hierarchical).

Every study gives the same three things (core.engine.study.Study): `scores`, a done run's test metrics as functions
of item counts; `untrained`, the variants with no training randomness beside them (pretrained MTCNN); and the
settings `--seeds N` repeats. The page, `python -m core.experiments NAME --seeds N --json` and the tests read this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
import torch

from core import numbers
from core.engine import replicates
from core.engine.replicates import Group
from core.engine.store import Run
from core.engine.study import Scores, Study
from core.experiments.tables import number
from core.experiments.verdicts import sentence
from core.metrics import hierarchical
from core.metrics.hierarchical import AcrossSeeds, Replicate
from core.metrics.paired import N_BOOT

YOURS = "yours: "  # the name of an imported model beside the runs (core.models.imported)
ONE_SEED = ("one seed: the CI counts the test images only, so how much another training run would move the "
            "result is unknown; repeat it with more seeds")


@dataclass(frozen=True)
class SeedComparison:
    study: str
    dataset: str
    device: str
    variants: dict[str, dict]  # name -> mean, sd, per_seed, ci95 (per metric), seeds, asked, runs, setting
    comparisons: list[tuple[str, str, AcrossSeeds]] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)  # variant -> "run …: why" for replicates not scored

    def as_json(self) -> dict:
        return numbers.public({"experiment": self.study, "dataset": self.dataset, "device": self.device,
                               "variants": self.variants,
                               "comparisons": [c.as_dict(a, b) for a, b, c in self.comparisons],
                               "failed": self.failed})

    @property
    def single_seed(self) -> bool:
        """Whether no trained variant has more than one seed (training variance unknown)."""
        trained = [v for v in self.variants.values() if v["runs"]]
        return all(len(v["seeds"]) <= 1 for v in trained)


def label(group: Group) -> str:
    """A group's name: its strategy as its runs store it."""
    run = (group.done or group.failed or group.live)[0]
    strategy = run.config.get("strategy")
    return str(strategy.get("name") if isinstance(strategy, dict) else strategy or run.base_variant)


def label_of(cfg: object) -> str:
    """A config's name before any run of it exists: its strategy."""
    strategy = getattr(cfg, "strategy", "")
    return str(getattr(strategy, "name", strategy))


def names(groups: list[Group]) -> list[str]:
    """Unique names: the strategy, then the settings that tell groups of one strategy apart."""
    base = [label(g) for g in groups]
    out = []
    for g, name in zip(groups, base, strict=True):
        twins = [h for h, n in zip(groups, base, strict=True) if n == name and h is not g]
        if twins:
            differ = sorted({d.split(" (")[0] for h in twins for d in replicates.differences(g.setting, h.setting)})
            name += " · " + ", ".join(f"{k} {_field(g.setting, k)}" for k in differ[:2])
        out.append(name)
    return out


def _field(setting: dict, path: str) -> object:
    """A setting's field by its dotted path ("strategy.lr")."""
    value: object = setting
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _score(study: Study, run: Run, device: torch.device) -> Scores:
    if study.scores is None:
        raise ValueError(f"{study.title} has no across-seed scores")
    return study.scores(run, device)


def compare(study: Study, groups: list[Group], dataset: str, device: torch.device,
            untrained: dict[str, Scores] | None = None, n_boot: int = N_BOOT) -> SeedComparison:
    """Each group (and each untrained variant) as a variant; every pair compared on the study's headline metric
    (the later-listed variant as A), and every variant against the first on the other metrics."""
    sides: dict[str, dict[str, list[Replicate]]] = {}
    variants: dict[str, dict] = {}
    failed: dict[str, list[str]] = {}
    untrained = untrained or {}
    yours = {n: s for n, s in untrained.items() if n.startswith(YOURS)}  # after the runs: never the baseline
    for name, scores in untrained.items():
        if name not in yours:
            sides[name] = {m: [r] for m, r in scores.items()}
            variants[name] = {"seeds": [], "asked": 0, "runs": [], "setting": {}, "count": "untrained"}
    for name, g in zip(names(groups), groups, strict=True):
        per_metric: dict[str, list[Replicate]] = {}
        scored = []
        for run in g.done:
            try:
                for m, r in _score(study, run, device).items():
                    per_metric.setdefault(m, []).append(r)
                scored.append(run)
            except (ValueError, OSError) as exc:
                failed.setdefault(name, []).append(f"run {run.id}: {exc}")
        failed.setdefault(name, []).extend(f"run {r.id}: {r.status}" + (f" ({r.message})" if r.message else "")
                                           for r in g.failed)
        if not failed[name]:
            del failed[name]
        if not scored:
            continue
        sides[name] = per_metric
        n, asked = len(scored), g.asked
        variants[name] = {"seeds": [int(r.config.get("seed", 0)) for r in scored], "asked": asked,
                          "runs": [r.id for r in scored], "setting": g.setting,
                          "count": replicates.count_words(n, asked)}
    for name, scores in yours.items():
        sides[name] = {m: [r] for m, r in scores.items()}
        variants[name] = {"seeds": [], "asked": 0, "runs": [], "setting": {}, "count": "yours, no seed"}
    for name, per_metric in sides.items():
        v = variants[name]
        values = {m: [r.observed for r in reps] for m, reps in per_metric.items()}
        v["mean"] = {m: float(np.mean(x)) for m, x in values.items()}
        v["sd"] = {m: hierarchical.sd(x) for m, x in values.items()}
        v["per_seed"] = {m: {("–" if r.seed is None else str(r.seed)): r.observed for r in reps}
                         for m, reps in per_metric.items()}
        v["ci95"] = {m: list(hierarchical.interval(reps, n_boot)) for m, reps in per_metric.items()}
    order = list(sides)
    comparisons = []
    if order:
        metrics = [m for m in study.metrics if all(m in sides[n] for n in order)] or sorted(
            set.intersection(*(set(s) for s in sides.values())))
        for metric in metrics[:1]:
            for b, a in combinations(order, 2):
                comparisons.append((a, b, hierarchical.across_seeds(
                    sides[a][metric], sides[b][metric], metric, metric not in study.lower_is_better, n_boot)))
        for metric in metrics[1:]:
            for a in order[1:]:
                comparisons.append((a, order[0], hierarchical.across_seeds(
                    sides[a][metric], sides[order[0]][metric], metric, metric not in study.lower_is_better, n_boot)))
    return SeedComparison(study.name, dataset, device.type, variants, comparisons, failed)


def settings_for(study: Study) -> list:
    """The settings `--seeds N` repeats: the study's own choice, else the defaults prepare trains."""
    return (study.seed_settings or study.defaults)()


def groups_for(study: Study, cfgs: list, runs: list[Run]) -> list[Group]:
    """The groups of these settings among the runs (a setting with no run yet is left out), in the settings' order."""
    found = {replicates.key(g.setting): g for g in replicates.groups(study, runs)}
    return [found[k] for k in (replicates.key(replicates.setting_of(c)) for c in cfgs) if k in found]


def cell(value: float | None, lo: float | None, hi: float | None, metric: str, sign: str = "") -> str:
    """"0.946 [0.887, 0.988]", or why there is no number: undefined on a seed (a constant predictor's correlation)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "undefined on a seed"
    if sign:
        return f"{numbers.text(value, fmt='+.3f')} [{numbers.text(lo, fmt='+.3f')}, {numbers.text(hi, fmt='+.3f')}]"
    return f"{number(value, metric)} [{number(lo, metric)}, {number(hi, metric)}]"


def variant_table(result: dict, metrics: list[str]) -> pd.DataFrame:
    """Variants as rows: per metric "mean [CI] · n seeds", and the seeds' sd and values of the first metric."""
    rows = []
    for name, v in result["variants"].items():
        row = {"variant": name}
        for m in metrics:
            if m in v["mean"]:
                row[m] = cell(v["mean"][m], *v["ci95"][m], m) + f" · {v['count']}"
        first = next((m for m in metrics if m in v["mean"]), None)
        if first is not None:
            row[f"sd of {first} over seeds"] = number(v["sd"][first], first)
            row["each seed"] = ", ".join(("untrained" if s == "–" else f"seed {s}") + ": " +
                                         ("undefined" if x is None else number(x, first))
                                         for s, x in v["per_seed"][first].items())
        rows.append(row)
    return pd.DataFrame(rows)


def share(p: float | None, ci: list) -> str:
    """"0.67 [0.33, 1.00]"; "undefined" where a compared value is (null in the JSON)."""
    if p is None or None in ci:
        return "undefined (a compared value is)"
    return f"{p:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def delta_table(result: dict) -> pd.DataFrame:
    """One row per comparison: Δ of the means with its hierarchical CI, P(A better) with its CI, the seeds, pairing."""
    rows = [{"metric": c["metric"], "A − B": f"{c['a']} − {c['b']}",
             "Δ [95% CI]": cell(c["delta"], *c["ci95"], c["metric"], sign="+"),
             "P(A better) [95% CI]": share(c["p_better"], c["p_better_ci95"]),
             "seeds (A, B)": f"{c['n_seeds'][0]}, {c['n_seeds'][1]}", "pairing": c["pairing"]}
            for c in result["comparisons"]]
    return pd.DataFrame(rows, columns=["metric", "A − B", "Δ [95% CI]", "P(A better) [95% CI]", "seeds (A, B)",
                                       "pairing"])


def curves(study: Study, groups: list[Group]) -> tuple[str, dict[str, dict[str, tuple[list[int], list[float]]]]]:
    """The replicates' validation curves for a band figure: (metric, setting name -> seed -> (epochs, values)), on
    the first of the study's metrics that every run's history has (else the first validation number it has)."""
    histories = {name: {str(r.config.get("seed", 0)): r.history for r in g.done}
                 for name, g in zip(names(groups), groups, strict=True) if g.done}
    keys = [set((h[-1].get("val") or {}) if h else ()) for by_seed in histories.values() for h in by_seed.values()]
    common = set.intersection(*keys) if keys else set()
    metric = next((m for m in study.metrics if m in common), min(common) if common else "")
    if not metric:
        return "", {}
    out = {name: {seed: ([int(e.get("epoch", i)) + 1 for i, e in enumerate(h)],
                         [numbers.number(e.get("val", {}).get(metric)) for e in h])
                  for seed, h in by_seed.items()} for name, by_seed in histories.items()}
    return metric, out


def verdicts(result: dict, study: Study) -> list[str]:
    """One sentence per comparison on the study's headline metric (core.experiments.verdicts)."""
    first = result["comparisons"][0]["metric"] if result["comparisons"] else ""
    return [sentence(c["metric"], c["a"], c["b"], c["delta"], tuple(c["ci95"]), c["metric"] in study.lower_is_better,
                     tuple(c["n_seeds"]), c["pairing"], c["p_better"])
            for c in result["comparisons"] if c["metric"] == first]
