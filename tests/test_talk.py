"""The talk export on tiny real runs: the evidence a study's slides state, the three files, and what a study without
runs, a run whose outputs are gone and an unwritable folder get. The deck is opened in Chromium with every request
outside the file refused."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import torch

from core import talk
from core.engine.store import RunStore
from core.experiments import seeds as across
from core.experiments.evidence import gather
from core.experiments.verdicts import strength
from core.studies import index
from core.studies.transfer import train as trainer
from core.talk import __main__ as talk_cli
from core.talk import deck
from tests.browser import CHROMIUM, CHROMIUM_ARGS, NO_CHROMIUM

CPU = torch.device("cpu")
TINY = trainer.TransferConfig(dataset="fashion_mnist_imbalanced3", image_size=32, epochs=2, limit_batches=2,
                              batch_size=16, workers=0)
STUDIES = ["classification", "face_detection"]  # one with runs, one without


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Scratch and fine-tuned tiny classification runs, seed 0; no face-detection run."""
    store = RunStore(tmp_path_factory.mktemp("talk-runs"))
    for strategy in ("scratch", "finetune"):
        assert [e for e in trainer.train(TINY.dataset, TINY.with_strategy(strategy), store, CPU)
                if isinstance(e, trainer.Finished)]
    return store


@pytest.fixture(scope="module")
def tiny_settings():
    mp = pytest.MonkeyPatch()
    real = across.settings_for
    mp.setattr(across, "settings_for", lambda study: [TINY.with_strategy("scratch"), TINY.with_strategy("finetune")]
               if study.name == "classification" else real(study))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def exported(store, tiny_settings, tmp_path_factory):
    return talk.export(tmp_path_factory.mktemp("talk") / "out", STUDIES, store, CPU)


def test_a_studys_evidence_is_its_runs_compared_with_a_verdict_from_the_interval(store, tiny_settings):
    e = gather(index.get("classification"), store, CPU)
    assert e.ready and e.question
    assert list(e.variants["variant"]) == ["scratch", "finetune"]
    assert list(e.variants["seeds"]) == ["1 seed", "1 seed"]
    assert e.variants["mean class accuracy [95% CI]"].str.match(r"^0\.\d{3} \[0\.\d{3}, 0\.\d{3}\]$").all()
    (row,) = e.deltas.to_dict("records")
    assert row["comparison"] == "finetune − scratch"
    assert "P(better) over seeds [95% CI]" not in e.deltas  # one seed each: no probability over seeds
    h = e.headline
    assert h["comparison"] == "finetune − scratch" and h["metric"] == "mCA"
    assert row["verdict"] == h["in_words"] == strength(h["delta"], tuple(h["ci95"]))
    (said,) = e.verdicts
    assert said.startswith({"clearly better": "finetune is clearly better than scratch",
                            "clearly worse": "finetune is clearly worse than scratch",
                            "no clear difference": "No clear difference between finetune and scratch"}[h["in_words"]])
    assert said.endswith("one training run each, so another seed could move it.")
    assert e.figure is not None and len(e.figure.data) >= 2  # validation curves, one per variant
    assert dict(e.setup)["Data"].startswith("fashion_mnist_imbalanced3: Sneaker / Sandal / Ankle boot")


def test_a_study_without_a_finished_run_gets_a_slide_that_says_so(exported):
    fd = next(e for e in exported.evidence if e.study == "face_detection")
    assert not fd.ready and fd.missing.startswith("No finished run of Face detection yet")
    slides = deck.slides(exported.evidence)
    (one,) = [s for s in slides if s.kicker == "Face detection"]
    assert fd.missing in one.lines
    summary = slides[-1].tables[0].set_index("study")
    assert summary.loc["Face detection", "verdict"] == "no finished run"
    assert summary.loc["Transfer: classification", "comparison"] == "finetune − scratch (mean class accuracy)"


def test_the_powerpoint_file_has_the_same_slides_with_tables_as_tables_and_notes(exported):
    from pptx import Presentation

    slides = deck.slides(exported.evidence)
    prs = Presentation(str(exported.files["pptx"]))
    assert len(prs.slides) == len(slides) == exported.slides
    for ours, theirs in zip(slides, prs.slides, strict=True):
        texts = [s.text_frame.text for s in theirs.shapes if s.has_text_frame]
        assert ours.title in texts
        tables = [s.table for s in theirs.shapes if s.has_table]
        assert len(tables) == len(ours.tables)
        for frame, table in zip(ours.tables, tables, strict=True):
            assert [c.text for c in table.rows[0].cells] == list(frame.columns)
            assert len(table.rows) == len(frame) + 1
        if ours.notes:
            assert theirs.notes_slide.notes_text_frame.text == ours.notes
        pictures = [s for s in theirs.shapes if s.shape_type == 13]  # MSO_SHAPE_TYPE.PICTURE
        assert len(pictures) == (1 if ours.figure is not None and "pdf" in exported.files else 0)


def test_a_run_whose_outputs_are_gone_is_named(store, tiny_settings, tmp_path):
    from core.studies.transfer import experiment as tx

    run = next(r for r in store.list("done") if r.config["strategy"] == "scratch")
    path = tx.transfer.predictions_path(run.checkpoint)
    saved = path.read_bytes()
    path.unlink()
    try:
        e = gather(index.get("classification"), store, CPU)
    finally:
        path.write_bytes(saved)
    assert any(run.id in p and "cannot be read" in p for p in e.problems)
    assert list(e.variants["variant"]) == ["finetune"] and not e.verdicts


def test_an_unwritable_folder_gets_one_message_from_the_export_and_the_cli(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(talk.TalkError, match="^Cannot write the talk to .*a-file/talk"):
        talk.export(blocker / "talk", ["classification"])
    with contextlib.redirect_stdout(io.StringIO()):
        assert talk_cli.main(["--out", str(blocker / "talk")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Cannot write the talk to")


@NO_CHROMIUM
def test_the_deck_opens_offline_every_figure_drawn_every_slide_in_1280x720_and_the_arrows_move(exported):
    from playwright.sync_api import sync_playwright

    assert "pdf" in exported.files, exported.problems
    assert deck.pdf_pages(exported.files["pdf"]) == exported.slides
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()

        def refuse(route):  # the network is off: anything but the file itself is refused, and noted
            if not route.request.url.startswith("file:"):
                outside.append(route.request.url)
                return route.abort()
            return route.continue_()
        page.route("**/*", refuse)
        page.goto(Path(exported.files["html"]).resolve().as_uri())
        page.wait_for_function("window.talkReady === true", timeout=60_000)
        assert page.evaluate("Reveal.getTotalSlides()") == exported.slides
        drawn = page.evaluate("""() => [...document.querySelectorAll('.figure')].map(
            d => d.querySelectorAll('.main-svg .scatterlayer .trace, .main-svg .heatmaplayer image').length)""")
        assert drawn and all(n >= 2 for n in drawn)  # every figure has its traces, none empty
        for i in range(exported.slides):
            assert page.evaluate("Reveal.getIndices().h") == i
            outside_box = page.evaluate("""() => [...Reveal.getCurrentSlide().querySelectorAll('*')]
                .filter(el => !el.closest('aside')).map(el => [el.tagName, el.getBoundingClientRect()])
                .filter(([, r]) => r.width > 0 && (r.left < -0.5 || r.top < -0.5 || r.right > innerWidth + 0.5
                                                   || r.bottom > innerHeight + 0.5)).map(([t]) => t)""")
            assert outside_box == [], f"slide {i + 1} spills out of 1280x720: {outside_box}"
            page.keyboard.press("ArrowRight")
            page.wait_for_timeout(50)
        assert page.evaluate("Reveal.isLastSlide()")
        browser.close()
    assert outside == []


def test_the_talk_page_builds_the_deck_and_offers_the_three_files(store, tiny_settings, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TLDASH_RUNS_DIR", str(store.folder))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app_pages/talk.py"), default_timeout=300).run()
    assert not at.exception
    at.multiselect(key="talk.studies").set_value(STUDIES).run()
    at.button(key="talk.build").click().run()
    assert not at.exception, [e.value for e in at.exception]
    said = "\n".join(m.value for m in at.markdown)
    assert "**Face detection**: No finished run of Face detection yet" in said
    assert "**Transfer: classification**: " in said and "finetune" in said and "scratch on mCA" in said
    folder = next(store.folder.glob("talks/*"))
    assert sorted(p.name for p in folder.iterdir()) == (["talk.html", "talk.pdf", "talk.pptx"] if deck.chromium()
                                                        else ["talk.html", "talk.pptx"])
    assert at.subheader[0].value.startswith(f"{len(deck.slides(gather_all(store)))} slides")


def test_the_talk_page_says_so_when_the_folder_cannot_be_written(store, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("TLDASH_RUNS_DIR", str(blocker))  # talks/ would go under a file
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app_pages/talk.py"), default_timeout=300).run()
    at.multiselect(key="talk.studies").set_value(["classification"]).run()
    at.button(key="talk.build").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    assert error.value.startswith(f"Cannot write the talk to {blocker}/talks/") and error.value.endswith(
        ": Not a directory")


def gather_all(store):
    return [gather(index.get(n), store, CPU) for n in STUDIES]


def test_picked_runs_are_shown_alone_for_their_study_and_an_unknown_run_is_one_message(store, tiny_settings,
                                                                                        tmp_path, capsys):
    scratch = next(r for r in store.list("done") if r.config["strategy"] == "scratch")
    e = gather(index.get("classification"), store, CPU, only=frozenset({scratch.id}))
    assert list(e.variants["variant"]) == ["scratch"] and e.deltas is not None and e.deltas.empty
    done = talk.export(tmp_path / "picked", ["classification"], store, CPU, runs=[scratch.id[-6:]])
    assert list(done.evidence[0].variants["variant"]) == ["scratch"]
    with pytest.raises(talk.TalkError, match="no run 'nosuchrun'"):
        talk.export(tmp_path / "unknown", ["classification"], store, CPU, runs=["nosuchrun"])


def test_the_evidence_is_kept_on_disk_until_a_run_of_the_study_changes(store, tiny_settings):
    from core.experiments import evidence

    study = index.get("classification")
    for old in evidence.cache_folder(store).glob("*.json"):
        old.unlink()
    assert evidence.cached(study, store, CPU, compute=False) is None
    first = evidence.cached(study, store, CPU)
    kept = list(evidence.cache_folder(store).glob("classification-*.json"))
    assert len(kept) == 1
    again = evidence.cached(study, store, CPU, compute=False)  # read back, not computed
    assert again is not None and again.headline == first.headline and again.verdicts == first.verdicts
    assert again.variants.equals(first.variants) and again.deltas.equals(first.deltas)
    assert again.figure.to_dict()["data"][0]["y"] == list(first.figure.to_dict()["data"][0]["y"])
    queued = store.create("classification", "mobilenet_v2/frozen", "classification", {"strategy": "frozen"})
    try:
        assert evidence.cached(study, store, CPU, compute=False) is None  # the study's runs changed: not this one
        evidence.cached(study, store, CPU)
        assert list(evidence.cache_folder(store).glob("classification-*.json")) == kept  # a queued run: not kept
    finally:
        store.discard(queued)


def test_a_home_tile_says_what_the_study_page_opens_on(store, tiny_settings):
    from core.experiments import evidence, headlines

    study = index.get("classification")
    e = evidence.cached(study, store, CPU)
    tile = headlines.tile(study, e)
    assert tile.variants == list(zip(e.variants["variant"], e.variants["mean class accuracy [95% CI]"], strict=True))
    row = e.deltas[e.deltas["comparison"] == e.headline["comparison"]].iloc[0]
    assert tile.delta == f"{e.headline['comparison']}: Δ {row['Δ mean class accuracy [95% CI]']}"
    assert tile.verdict == row["verdict"] and tile.metric == "mean class accuracy on the test split"
    empty = headlines.tile(index.get("face_detection"), evidence.cached(index.get("face_detection"), store, CPU))
    assert empty.empty and empty.missing.startswith("No finished run of Face detection yet")
