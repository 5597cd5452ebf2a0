"""Comparison tables for people: the metric keys of the JSON, numbers formatted, CIs and p-values readable."""

import math

from core import numbers
from core.engine.store import Run
from core.experiments import tables
from core.experiments.comparison import Comparison
from core.metrics.paired import Paired


def _run(run_id: str, **config) -> Run:
    base = {"strategy": "finetune", "backbone": "mobilenet_v2", "head": "linear", "image_size": 64, "epochs": 4,
            "lr": 0.001, "augment": [], "optimizer": "adam", "batch_size": 64}
    return Run(run_id, 0.0, 0.0, "classification", "mobilenet_v2", "classification", base | config, "done")


RESULT = Comparison("classification", "set/test", "cpu",
                    {"a": {"mCA": 0.8734, "train_seconds": 12.345, "trainable_params": 2225000.0, "ms_per_image": None},
                     "b": {"mCA": float("nan"), "train_seconds": 3.0, "trainable_params": 3843.0}},
                    [("a", "b", Paired("mCA", 0.87, 0.80, 0.07, (0.012, 0.13), 0.0004, "paired bootstrap")),
                     ("a", "b", Paired("accuracy", 0.9, 0.85, 0.05, None, 0.031, "McNemar (exact)"))],
                    {"ci95": {"a": {"mCA": [0.81, 0.92]}}})


def test_metric_table_keeps_the_json_keys_and_formats_every_cell():
    table = tables.metric_table(RESULT, ["mCA", "train_seconds", "trainable_params", "ms_per_image"],
                                {"a": "finetune (1a2b)"})
    assert list(table.columns) == ["variant", "mCA", "train_seconds", "trainable_params", "ms_per_image"]
    a, b = table.to_dict("records")
    assert a == {"variant": "finetune (1a2b)", "mCA": "0.873 [0.810, 0.920]", "train_seconds": "12.3",
                 "trainable_params": "2,225,000", "ms_per_image": "–"}
    assert b["variant"] == "b" and b["mCA"] == "undefined" and b["trainable_params"] == "3,843"


def test_comparisons_table_shows_signed_deltas_cis_and_small_p_values():
    rows = tables.comparisons_table(RESULT.comparisons, {"a": "A", "b": "B"}).to_dict("records")
    assert rows[0] == {"metric": "mCA", "a": "A", "b": "B", "value a": "0.870", "value b": "0.800",
                            "Δ (a − b)": "+0.070", "95% CI": "[+0.012, +0.130]", "test": "paired bootstrap",
                            "p": "< 0.001"}
    assert rows[1]["95% CI"] == "–" and rows[1]["p"] == "0.031"
    assert list(tables.comparisons_table([]).columns)[:3] == ["metric", "a", "b"]


def test_short_names_mention_only_what_differs():
    runs = {"v1": _run("20261123-000000-aaaa11", strategy="scratch"),
            "v2": _run("20261123-000000-bbbb22", strategy="frozen", image_size=128, lr=0.0001)}
    assert tables.short_names(runs) == {"v1": "scratch · 64 px · lr 0.001", "v2": "frozen · 128 px · lr 0.0001"}
    again = {"v1": runs["v1"], "v3": _run("20261123-000000-cccc33", strategy="scratch")}  # same settings: ids tell
    assert tables.short_names(again) == {"v1": "scratch (aa11)", "v3": "scratch (cc33)"}
    settings = tables.settings_table(runs, tables.short_names(runs))
    assert settings["lr"].tolist() == ["lr 0.001", "lr 0.0001"] and settings["augment"].tolist() == ["none"] * 2
    assert "run …aaaa11" in tables.run_label(runs["v1"])


def test_numbers_never_show_raw_floats_or_none():
    assert tables.number(570.6772, "ms_per_image") == "570.7"
    assert tables.number(None) == tables.number(math.inf) == "–"
    assert tables.number(numbers.Undefined("constant predictions")) == "undefined (constant predictions)"
    assert tables.number(0.5) == "0.500" and tables.number(7) == "7"
    assert tables.number(14.0, "no_face") == "14" and tables.number(1234.0, "trainable_params") == "1,234"
