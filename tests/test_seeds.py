"""Replicates: what a seed drives, grouping by setting, the across-seed Comparison and `--seeds N` on tiny runs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.engine import replicates, seeding
from core.engine.store import RunStore
from core.experiments import __main__ as experiments_cli
from core.experiments import seeds as across
from core.studies import index
from core.studies.transfer import experiment as tx
from core.studies.transfer import train as trainer

CPU = torch.device("cpu")
# every source a seed drives in a transfer run: a new head's init, batch order, augmentation draws
TINY = trainer.TransferConfig(dataset="fashion_mnist_imbalanced3", image_size=32, epochs=1, limit_batches=2,
                              batch_size=16, workers=0, augment=("flip",))
STUDY = index.get("classification")


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("seed-runs")


@pytest.fixture(scope="module")
def cli_json(runs_dir):
    """`python -m core.experiments classification --seeds 2 --json` with tiny settings: trains 4 runs, prints JSON."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TLDASH_RUNS_DIR", str(runs_dir))
    mp.setattr(across, "settings_for", lambda study: [TINY.with_strategy("scratch"), TINY.with_strategy("finetune")])
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = experiments_cli.main(["classification", "--seeds", "2", "--json", "--cpu"])
    mp.undo()
    assert code == 0
    return json.loads(out.getvalue())


def test_the_cli_trains_the_missing_seeds_and_prints_the_across_seed_comparison(cli_json, runs_dir):
    assert set(cli_json["variants"]) == {"scratch", "finetune"}
    for v in cli_json["variants"].values():
        assert v["seeds"] == [0, 1] and v["count"] == "2 seeds" and len(v["runs"]) == 2
        assert set(v["per_seed"]["mCA"]) == {"0", "1"}
        assert v["mean"]["mCA"] == pytest.approx(np.mean(list(v["per_seed"]["mCA"].values())))
        assert v["sd"]["mCA"] == pytest.approx(np.std(list(v["per_seed"]["mCA"].values()), ddof=1))
        lo, hi = v["ci95"]["mCA"]
        assert lo <= v["mean"]["mCA"] <= hi
    (mca,) = [c for c in cli_json["comparisons"] if c["metric"] == "mCA"]
    assert (mca["a"], mca["b"], mca["n_seeds"], mca["pairing"]) == ("finetune", "scratch", [2, 2], "by seed")
    assert mca["test"].startswith("hierarchical bootstrap")
    assert mca["delta"] == pytest.approx(cli_json["variants"]["finetune"]["mean"]["mCA"]
                                         - cli_json["variants"]["scratch"]["mean"]["mCA"])
    assert 0 <= mca["p_better_ci95"][0] <= mca["p_better"] <= mca["p_better_ci95"][1] <= 1
    # asked again: nothing is trained twice
    assert len(RunStore(runs_dir).list()) == 4


def test_the_same_seed_gives_the_same_model_and_another_seed_another(cli_json, runs_dir, monkeypatch):
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(runs_dir))
    store = RunStore(runs_dir)
    finetune = {int(r.config["seed"]): r for r in store.list("done") if r.config["strategy"] == "finetune"}
    again = [e for e in trainer.train(TINY.dataset, TINY.with_strategy("finetune"), store, CPU)
             if isinstance(e, trainer.Finished)][0]
    first, twin, other = (tx.outcome(r).outputs for r in (finetune[0], store.get(again.run_id), finetune[1]))
    assert np.array_equal(first, twin)
    assert not np.allclose(first, other)
    # the same test images whatever the seed: the split belongs to the data
    assert np.array_equal(tx.outcome(finetune[0]).index, tx.outcome(finetune[1]).index)


def test_a_failed_replicate_leaves_the_others_and_is_counted(cli_json, runs_dir, monkeypatch):
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(runs_dir))
    store = RunStore(runs_dir)
    (failed_id,) = STUDY.queue(replace(TINY.with_strategy("finetune"), seed=2), store)
    store.update(failed_id, status="failed", message="out of memory")
    groups = across.groups_for(STUDY, [TINY.with_strategy("scratch"), TINY.with_strategy("finetune")], store.list())
    assert [g.count_words() for g in groups] == ["2 seeds", "2 of 3 seeds"]
    result = across.compare(STUDY, groups, TINY.dataset, CPU, n_boot=100).as_json()
    assert result["variants"]["finetune"]["count"] == "2 of 3 seeds"
    assert result["failed"] == {"finetune": [f"run {failed_id}: failed (out of memory)"]}
    table = across.variant_table(result, ["mCA"])
    assert table.loc[table.variant == "finetune", "mCA"].item().endswith("· 2 of 3 seeds")


def test_replicates_group_by_everything_but_the_seed(cli_json, runs_dir, capsys):
    store = RunStore(runs_dir)
    runs = [r for r in store.list("done") if r.config["strategy"] == "finetune"]
    assert replicates.group_of(STUDY, runs).seeds == [0, 1]  # the newest run of seed 0 stands for it
    (other,) = STUDY.queue(replace(TINY.with_strategy("finetune"), epochs=2, seed=5), store)
    with pytest.raises(ValueError, match=r"differ in epochs \(1 vs 2\), not only in the seed"):
        replicates.group_of(STUDY, [*runs, store.get(other)])
    # missing: the seeds of a setting no done, queued or running run has
    assert [c.seed for c in replicates.missing(STUDY, TINY.with_strategy("finetune"), 4, store.list())] == [2, 3]
    # the same from a shell: python -m core.runs replicates RUN RUN…, a nested setting named by its inner field
    from core.runs import __main__ as runs_cli

    scratch = next(r for r in store.list("done") if r.config["strategy"] == "scratch")
    mp = pytest.MonkeyPatch()
    mp.setenv("TLDASH_RUNS_DIR", str(runs_dir))
    try:
        assert runs_cli.main(["replicates", runs[0].id, runs[1].id]) == 0
        assert runs_cli.main(["replicates", runs[0].id, scratch.id]) == 1
    finally:
        mp.undo()
    said = capsys.readouterr().out.splitlines()
    assert said[0].startswith("Replicates of one setting: seeds 0, 1 (")
    assert said[1].endswith("differ in strategy.name (finetune vs scratch), not only in the seed.")


@pytest.mark.parametrize("n", [0, 21, -3])
def test_a_seed_count_outside_1_to_20_is_refused_with_the_range(n, capsys):
    with pytest.raises(ValueError, match="1 to 20"):
        seeding.check_count(n)
    assert experiments_cli.main(["classification", "--seeds", str(n)]) == 2
    assert "must be 1 to 20" in capsys.readouterr().err


def test_the_page_shows_replicates_across_seeds_and_repeat_queues_the_missing_seeds(cli_json, runs_dir, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from ui import jobs

    monkeypatch.setenv("TLDASH_RUNS_DIR", str(runs_dir))
    monkeypatch.setattr(jobs, "launch", lambda run_ids, force_cpu=False: jobs.Job(0, tuple(run_ids), "", 0.0))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app_pages/classification.py"),
                           default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Across seeds: would it hold if trained again?" in [s.value for s in at.subheader]
    frames = [d.value for d in at.dataframe]
    variants = next(f for f in frames if "each seed" in f.columns).set_index("variant")
    assert variants.loc["scratch", "mCA"].endswith("· 2 seeds")
    deltas = next(f for f in frames if "P(A better) [95% CI]" in f.columns)
    assert list(deltas["A − B"]) == ["finetune − scratch", "finetune − scratch"]  # mCA, then mF1
    assert deltas["seeds (A, B)"].tolist() == ["2, 2", "2, 2"]
    verdict = next(m.value for m in at.markdown if m.value.startswith("- ") and "over 2 seeds" in m.value and
                   ("than scratch on mCA" in m.value or "and scratch on mCA" in m.value))
    assert verdict.startswith("- ") and "over 2 seeds each and the test images, P(finetune better)" in verdict
    before = {r.id for r in RunStore(runs_dir).list()}
    at.multiselect(key="cls.seeds.which").set_value([k for k in at.multiselect(key="cls.seeds.settings").value]).run()
    at.number_input(key="cls.seeds.n").set_value(3).run()
    button = next(b for b in at.button if b.key == "cls.seeds.go")
    assert button.label.startswith("Repeat ×3: train")
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    new = [r for r in RunStore(runs_dir).list() if r.id not in before]
    assert sorted((r.config["strategy"], r.config["seed"]) for r in new) == [("finetune", 2), ("scratch", 2)]


def test_every_command_that_starts_runs_repeats_them_with_seeds(capsys):
    from core.runs import __main__ as runs_cli

    parser = STUDY.parser("python -m core.studies.transfer")
    cfgs = STUDY.configs(parser.parse_args(["--preset", "quick", "--seed", "4", "--seeds", "3"]))
    assert [c.seed for c in cfgs] == [4, 5, 6] and len({replicates.key(replicates.setting_of(c)) for c in cfgs}) == 1
    assert runs_cli.main(["prepare", "--seeds", "21"]) == 2
    assert "must be 1 to 20, got 21" in capsys.readouterr().err


def test_tables_say_undefined_where_a_seed_is():
    """A scratch regressor's constant predictions on a seed: its correlation is undefined, and so are the mean, Δ and
    P(A better), as the JSON's nulls; the tables say so instead of failing or printing a number."""
    result = {"variants": {"scratch": {"mean": {"pearson": None}, "ci95": {"pearson": [None, None]},
                                       "sd": {"pearson": None}, "per_seed": {"pearson": {"0": None, "1": 0.2}},
                                       "count": "2 seeds"}},
              "comparisons": [{"metric": "pearson", "a": "finetune", "b": "scratch", "delta": None, "ci95": [None, None],
                               "p_better": None, "p_better_ci95": [None, None], "n_seeds": [2, 2],
                               "pairing": "by seed"}]}
    row = across.variant_table(result, ["pearson"]).iloc[0]
    assert row["pearson"] == "undefined on a seed · 2 seeds" and row["each seed"] == "seed 0: undefined, seed 1: 0.200"
    deltas = across.delta_table(result).iloc[0]
    assert deltas["Δ [95% CI]"] == "undefined on a seed"
    assert deltas["P(A better) [95% CI]"] == "undefined (a compared value is)"
