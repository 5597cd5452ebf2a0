"""The talk export: the studies as slides that state only what their intervals support.

    python -m core.talk --out DIR [--studies NAME …]

writes DIR/talk.html (self-contained reveal.js deck), DIR/talk.pdf (Chromium's print of it) and DIR/talk.pptx
(python-pptx), from the finished runs on disk: nothing is trained. core.talk.evidence gathers each study's numbers,
core.talk.deck writes the slides.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core import runs as runlist
from core.engine.store import RunStore, RunStoreError
from core.experiments.evidence import Evidence, gather
from core.studies import index
from core.talk import deck
from core.talk.deck import TalkError


@dataclass(frozen=True)
class Exported:
    folder: Path
    files: dict[str, Path]  # "html", "pdf", "pptx" -> path
    slides: int
    evidence: list[Evidence]
    seconds: dict[str, float]  # per step: evidence, html, pdf, pptx
    problems: list[str] = field(default_factory=list)  # what was left out (no Chromium: no PDF)


def studies() -> list[str]:
    """The studies a talk can hold, in the list's order."""
    return [s.name for s in index.STUDIES if s.scores is not None]


def writable(folder: Path) -> Path:
    """The export folder, created; TalkError when it cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".talk-{os.getpid()}.probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TalkError(f"Cannot write the talk to {folder}: {exc.strerror or exc}") from exc
    return folder


def export(folder: Path, names: list[str] | None = None, store: RunStore | None = None,
           device: torch.device | None = None, say: Callable[[str], None] = lambda _: None,
           runs: list[str] | None = None) -> Exported:
    """Gather each study's evidence and write the three files. runs: ids (or what `python -m core.runs` accepts)
    of the runs to show, for the studies they belong to; the others show their compared settings. TalkError for an
    unwritable folder, an unknown run or a missing reveal.js; a study without finished runs gets a slide that says
    so."""
    folder = writable(Path(folder))
    store = store or RunStore()
    try:
        only = frozenset(runlist.find(store, ref).id for ref in runs or [])
    except (KeyError, RunStoreError) as exc:
        raise TalkError(str(exc.args[0] if exc.args else exc)) from None
    device = device or torch.device("cpu")
    chosen = [index.get(n) for n in (names or studies())]
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    evidence = []
    for study in chosen:
        say(f"gathering {study.title}")
        evidence.append(gather(study, store, device, only=only))
    seconds["evidence"] = time.perf_counter() - start
    slides = deck.slides(evidence)
    files: dict[str, Path] = {}
    step = time.perf_counter()
    files["html"] = folder / "talk.html"
    files["html"].write_text(deck.html_deck(slides), encoding="utf-8")
    seconds["html"] = time.perf_counter() - step
    problems: list[str] = []
    images: dict[str, bytes] = {}
    step = time.perf_counter()
    try:
        say("printing the PDF in Chromium")
        images = deck.print_deck(files["html"], folder / "talk.pdf", [s.figure_id for s in slides if s.figure])
        files["pdf"] = folder / "talk.pdf"
    except TalkError as exc:
        problems.append(str(exc))
    seconds["pdf"] = time.perf_counter() - step
    step = time.perf_counter()
    say("writing the PowerPoint file")
    files["pptx"] = folder / "talk.pptx"
    deck.pptx_deck(slides, images, files["pptx"])
    seconds["pptx"] = time.perf_counter() - step
    return Exported(folder, files, len(slides), evidence, seconds, problems)


__all__ = ["Exported", "TalkError", "export", "studies"]
