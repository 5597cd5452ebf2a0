"""A Comparison as tables for people: formatted numbers, CIs in brackets, short variant names.

Pure pandas: the pages draw these, the tests check them, and the metric columns keep the keys the
Comparison JSON has (`python -m core.experiments NAME --json`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import pandas as pd

from core import numbers
from core.engine.store import Run
from core.experiments.comparison import Comparison
from core.experiments.verdicts import sentence
from core.metrics.paired import Paired

COUNTS = ("trainable_params", "no_face")  # metrics that count things: shown as whole numbers
DIFFERING = ("backbone", "head", "image_size", "epochs", "lr", "augment")  # settings a short name mentions


def number(value: object, metric: str = "") -> str:
    """One cell: "0.873", "1,234" for counts, "12.3" for seconds and milliseconds, "–" for missing or infinite,
    "undefined (constant predictions)" for NaN, with its reason where known."""
    if isinstance(value, float) and math.isnan(value):
        return numbers.text(value)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if not isinstance(value, int | float):
        return str(value)
    if metric in COUNTS or isinstance(value, int):
        return f"{int(value):,}"
    if metric.endswith("seconds") or metric.startswith("ms_"):
        return f"{value:,.1f}"
    return f"{value:.3f}"


def p_value(p: float) -> str:
    return "< 0.001" if p < 1e-3 else f"{p:.2g}"


def metric_table(result: Comparison, metrics: list[str], names: dict[str, str] | None = None) -> pd.DataFrame:
    """Variants as rows, one column per metric key: "value [low, high]" where the Comparison has a 95% CI."""
    ci = result.extra.get("ci95", {})
    rows = []
    for variant, values in result.variants.items():
        row = {"variant": (names or {}).get(variant, variant)}
        for m in metrics:
            cell = number(values.get(m), m)
            if m in ci.get(variant, {}):
                lo, hi = ci[variant][m]
                cell += f" [{number(lo, m)}, {number(hi, m)}]"
            row[m] = cell
        rows.append(row)
    return pd.DataFrame(rows)


def comparisons_table(comparisons: Sequence[tuple[str, str, Paired]], names: dict[str, str] | None = None
                      ) -> pd.DataFrame:
    """One row per (variant a, variant b, paired result): metric, values, Δ = a − b with its CI, the test and p."""
    rows = []
    for a, b, c in comparisons:
        rows.append({"metric": c.metric, "a": (names or {}).get(a, a), "b": (names or {}).get(b, b),
                     "value a": number(c.a), "value b": number(c.b), "Δ (a − b)": numbers.text(c.delta, fmt="+.3f"),
                     "95% CI": f"[{numbers.text(c.ci95[0], fmt='+.3f')}, {numbers.text(c.ci95[1], fmt='+.3f')}]"
                     if c.ci95 else "–",
                     "test": c.test, "p": p_value(c.p_value)})
    return pd.DataFrame(rows, columns=["metric", "a", "b", "value a", "value b", "Δ (a − b)", "95% CI", "test", "p"])


def verdicts(comparisons: Sequence[tuple[str, str, Paired]], names: dict[str, str] | None = None,
             lower_is_better: frozenset[str] = frozenset()) -> list[str]:
    """One sentence per comparison that has a CI (core.experiments.verdicts), for under its table."""
    named = names or {}
    return [sentence(c.metric, named.get(a, a), named.get(b, b), c.delta, c.ci95, c.metric in lower_is_better)
            for a, b, c in comparisons if c.ci95 is not None]


def run_label(run: Run) -> str:
    """A run in a picker: strategy, backbone, head, size, epochs and the end of its id."""
    c = run.config
    return (f"{c.get('strategy')} · {c.get('backbone')} · {c.get('head')} head · {c.get('image_size')} px · "
            f"{c.get('epochs')} ep · run …{run.id[-6:]}")


RUN_ID = re.compile(r"-(\d{8}-\d{6}-[0-9a-f]{6})$")  # the end of a run variant's registry name


def variant_names(names: Sequence[str]) -> dict[str, str]:
    """Registry names as people read them: "mtcnn/finetuned-pnet-20261206-034128-6b6787" -> "finetuned-pnet", the
    end of the run id added only where two would read the same."""
    short = {n: RUN_ID.sub("", n.split("/", 1)[-1]) for n in names}
    twins = {s for s in short.values() if list(short.values()).count(s) > 1}
    return {n: s + (f" (…{m.group(1)[-6:]})" if s in twins and (m := RUN_ID.search(n)) else "")
            for n, s in short.items()}


def setting(key: str, value: object) -> str:
    """One setting as a short name shows it."""
    if key == "image_size":
        return f"{value} px"
    if key == "epochs":
        return f"{value} ep"
    if key == "lr":
        return f"lr {value:g}" if isinstance(value, float) else f"lr {value}"
    if key == "augment":
        return "+".join(value) if value else "no aug"  # type: ignore[arg-type]
    return str(value)


def short_names(runs: dict[str, Run]) -> dict[str, str]:
    """Variant -> "strategy · what differs between the runs": short and stable enough for legends and subplot
    titles; the end of the run's id is added only to tell apart runs whose names would be the same (the settings
    table and the pickers name each run's id)."""
    differ = [k for k in DIFFERING if len({str(r.config.get(k)) for r in runs.values()}) > 1]
    names = {variant: " · ".join([str(r.config.get("strategy"))] + [setting(k, r.config.get(k)) for k in differ])
             for variant, r in runs.items()}
    twins = {n for n in names.values() if list(names.values()).count(n) > 1}
    return {v: n + (f" ({runs[v].id[-4:]})" if n in twins else "") for v, n in names.items()}


def settings_table(runs: dict[str, Run], names: dict[str, str]) -> pd.DataFrame:
    """Every setting of the compared runs, one row per variant."""
    rows = []
    for variant, r in runs.items():
        c = r.config
        rows.append({"variant": names[variant], "backbone": c.get("backbone"), "head": c.get("head"),
                     "strategy": c.get("strategy"), "epochs": c.get("epochs"), "lr": setting("lr", c.get("lr")),
                     "optimiser": c.get("optimizer"), "image px": c.get("image_size"), "batch": c.get("batch_size"),
                     "augment": ", ".join(c.get("augment", [])) or "none", "run": r.id})
    return pd.DataFrame(rows)
