"""The talk as slides, written three ways from one list: a self-contained reveal.js deck (HTML; reveal.js, its theme
with the fonts inlined and plotly.js inside the file, so no request leaves it), the same deck printed by Chromium
(PDF, one page per slide) and a PowerPoint file (python-pptx: figures as images, tables as tables, speaker notes).
"""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from core import plots
from core.experiments.evidence import Evidence, summary_rows

ROOT = Path(__file__).resolve().parents[2]
REVEAL = ROOT / "node_modules" / "reveal.js" / "dist"
WIDTH, HEIGHT = 1280, 720  # the slide, in CSS pixels: 16:9, as a 1280×720 projector shows it
FIGURE_SIZE = (1180, 500)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CLEAR_RULE = ("A difference is called clear only where its 95% CI excludes 0; otherwise the slides say the interval "
              "crosses 0.")


class TalkError(Exception):
    """What stops an export, in one sentence for the page and the CLI."""


@dataclass(frozen=True)
class Slide:
    title: str
    lines: list[str] = field(default_factory=list)  # paragraphs (plain text)
    tables: list[pd.DataFrame] = field(default_factory=list)
    figure: go.Figure | None = None
    notes: str = ""
    kicker: str = ""  # the small line above the title: the study
    big: bool = False  # a title slide's large type

    @property
    def figure_id(self) -> str:
        return "fig-" + re.sub(r"[^a-z0-9]+", "-", f"{self.kicker}-{self.title}".lower()).strip("-")


def slides(evidence: list[Evidence], when: datetime | None = None) -> list[Slide]:
    """The title, a few slides per study (its question and setup, its figure, its table, its verdict beside the
    original study), and the closing summary."""
    when = when or datetime.now(UTC)
    ready = [e for e in evidence if e.ready]
    out = [Slide("What transfer learning bought here", [
        f"{len(evidence)} studies, pretrained against fine-tuned, from the runs on this machine "
        f"({len(ready)} with finished runs)", when.strftime("%d %B %Y"), CLEAR_RULE], big=True,
        notes="Every number comes from the runs on this machine; each comparison is on the same test items.")]
    for e in evidence:
        out += _study_slides(e)
    out.append(Slide("What transfer learning bought here: the summary", [CLEAR_RULE], [summary_rows(evidence)],
                     notes="\n".join(f"{e.title}: {e.headline['verdict']}" for e in evidence if e.headline)))
    return out


def _study_slides(e: Evidence) -> list[Slide]:
    if not e.ready:
        return [Slide(e.title, [e.question, e.missing, *e.problems], kicker=e.title, notes=e.missing)]
    setup = [f"{label}: {text}" for label, text in e.setup]
    out = [Slide("The question", [e.question, *setup], kicker=e.title, notes=e.notes())]
    if e.figure is not None:
        out.append(Slide(e.figure_title or "The key figure", [], figure=e.figure, kicker=e.title, notes=e.notes()))
    tables = [t for t in (e.variants, e.deltas) if t is not None and len(t)]
    out.append(Slide("The numbers", ["Brackets: 95% CI (bootstrap over the test items, and over seeds where there "
                                     "are several)."], tables, kicker=e.title, notes=e.notes()))
    said = list(e.verdicts) or ["Only one variant finished, so there is nothing to compare it with yet."]
    beside = [f"The original study: {p.claim}. What differs: {p.differs}." for p in e.published]
    out.append(Slide("The verdict", said + beside + e.problems, kicker=e.title, notes=e.notes()))
    return out


# --- HTML -----------------------------------------------------------------------------------------------------------

STYLE = """
.reveal { font-size: 26px; }
.reveal .slides section { text-align: left; height: 100%; box-sizing: border-box; padding: 8px 24px; }
.reveal h2 { font-size: 40px; margin: 0 0 14px 0; text-transform: none; }
.reveal .kicker { font-size: 20px; color: #666; margin: 0; }
.reveal p { margin: 0 0 10px 0; line-height: 1.3; }
.reveal section.big h2 { font-size: 56px; margin-top: 150px; }
.reveal table { font-size: 20px; margin: 8px 0 16px 0; border-collapse: collapse; }
.reveal table th, .reveal table td { padding: 4px 12px; border-bottom: 1px solid #ccc; text-align: left; }
""" + f".reveal .figure {{ width: {FIGURE_SIZE[0]}px; height: {FIGURE_SIZE[1]}px; }}\n"


def _table_html(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _for_slide(fig: go.Figure) -> go.Figure:
    big = plots.presenting(fig, 1.4)
    big.update_layout(width=FIGURE_SIZE[0], height=FIGURE_SIZE[1], autosize=False)
    return big


def _section(slide: Slide, figures: dict[str, str]) -> str:
    parts = [f'<p class="kicker">{html.escape(slide.kicker)}</p>' if slide.kicker else "",
             f"<h2>{html.escape(slide.title)}</h2>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in slide.lines]
    parts += [_table_html(t) for t in slide.tables]
    if slide.figure is not None:
        figures[slide.figure_id] = _for_slide(slide.figure).to_json()
        parts.append(f'<div class="figure" id="{slide.figure_id}"></div>')
    notes = f'<aside class="notes">{html.escape(slide.notes)}</aside>' if slide.notes else ""
    cls = ' class="big"' if slide.big else ""
    return f"<section{cls}>{''.join(parts)}{notes}</section>"


def _asset(path: Path) -> str:
    if not path.is_file():
        raise TalkError(f"{path.relative_to(ROOT)} is missing: run `npm ci` in the project folder (reveal.js comes "
                        "from npm)")
    return path.read_text(encoding="utf-8")


def html_deck(deck: list[Slide]) -> str:
    """One HTML file holding the slides, reveal.js, its theme and plotly.js: it opens with the network off."""
    figures: dict[str, str] = {}
    sections = "\n".join(_section(s, figures) for s in deck)
    safe = lambda text: re.sub(r"</(script)", r"<\\/\1", text, flags=re.I)  # noqa: E731 - only "</script" ends a script
    config = {"width": WIDTH, "height": HEIGHT, "margin": 0.02, "center": False, "hash": True, "slideNumber": "c/t",
              "transition": "none", "pdfMaxPagesPerSlide": 1, "pdfSeparateFragments": False}
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>What transfer learning bought here</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_asset(REVEAL / "reset.css")}</style><style>{_asset(REVEAL / "reveal.css")}</style>
<style>{_asset(REVEAL / "theme" / "white.css")}</style><style>{STYLE}</style>
</head><body><div class="reveal"><div class="slides">
{sections}
</div></div>
<script>{safe(_asset(REVEAL / "reveal.js"))}</script>
<script>{safe(_asset(REVEAL / "plugin" / "notes.js"))}</script>
<script>{safe(plotly.offline.get_plotlyjs())}</script>
<script>
const FIGURES = {safe(json.dumps(figures))};
window.talkReady = false;
Reveal.initialize(Object.assign({json.dumps(config)}, {{plugins: [RevealNotes]}})).then(() => Promise.all(
  Object.entries(FIGURES).map(([id, spec]) => {{
    const fig = JSON.parse(spec);
    return Plotly.newPlot(id, fig.data, fig.layout, {{displayModeBar: false, responsive: false}});
  }}))).then(() => {{ window.talkReady = true; }});
</script></body></html>"""


# --- PDF and figure images, through Chromium -------------------------------------------------------------------------

def chromium() -> str | None:
    """The Chromium that prints the PDF and photographs the figures, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def print_deck(deck_html: Path, pdf: Path, figure_ids: list[str], timeout_s: float = 120.0) -> dict[str, bytes]:
    """The deck printed to PDF (reveal.js's print layout, one page per slide) and each figure as a PNG, in one
    Chromium session with every request outside the file refused."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    exe = chromium()
    if exe is None:
        raise TalkError("Chromium is not installed, so there is no PDF or PPTX figure (Debian: apt install chromium)")
    images: dict[str, bytes] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=2).new_page()
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                           else route.abort())
                page.goto(deck_html.resolve().as_uri() + "?print-pdf", timeout=timeout_s * 1000)
                page.wait_for_function("window.talkReady === true", timeout=timeout_s * 1000)
                # reveal.js lays the print pages out after it is ready: wait for one page per slide
                page.wait_for_function("document.querySelectorAll('.pdf-page').length === Reveal.getTotalSlides()",
                                       timeout=timeout_s * 1000)
                page.pdf(path=str(pdf), width=f"{WIDTH}px", height=f"{HEIGHT}px", print_background=True,
                         prefer_css_page_size=True)
                for fid in figure_ids:
                    images[fid] = page.locator(f"#{fid}").screenshot()
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise TalkError(f"Chromium could not print the deck: {str(exc).splitlines()[0]}") from exc
    return images


def pdf_pages(pdf: Path) -> int:
    """How many pages a PDF has (its page objects)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf.read_bytes()))


# --- PPTX -------------------------------------------------------------------------------------------------------------

def pptx_deck(deck: list[Slide], images: dict[str, bytes], path: Path) -> None:
    """The slides as PowerPoint: text boxes, tables as tables, figures as images, notes as speaker notes."""
    import io

    from pptx import Presentation
    from pptx.util import Emu, Inches, Pt

    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(13.333), Inches(7.5)
    blank = prs.slide_layouts[6]
    left, width = Inches(0.5), prs.slide_width - Inches(1.0)
    for s in deck:
        slide = prs.slides.add_slide(blank)
        top = Inches(2.2) if s.big else Inches(0.3)
        if s.kicker:
            _text(slide, s.kicker, left, top, width, Inches(0.35), Pt(14))
            top += Inches(0.35)
        _text(slide, s.title, left, top, width, Inches(0.8), Pt(40 if s.big else 30), bold=True)
        top += Inches(0.9)
        if s.lines:
            height = Inches(0.42) * sum(1 + len(line) // 110 for line in s.lines)
            _text(slide, s.lines, left, top, width, height, Pt(16))
            top += height + Inches(0.1)
        for frame in s.tables:
            rows, cols = len(frame) + 1, len(frame.columns)
            shape = slide.shapes.add_table(rows, cols, left, top, width, Inches(0.4) * rows)
            for j, col in enumerate(frame.columns):
                _cell(shape.table.cell(0, j), str(col), Pt(14), bold=True)
                for i, value in enumerate(frame[col], start=1):
                    _cell(shape.table.cell(i, j), str(value), Pt(14))
            top += Inches(0.4) * rows + Inches(0.3)
        if s.figure is not None and s.figure_id in images:
            box_h = prs.slide_height - top - Inches(0.3)
            ratio = FIGURE_SIZE[0] / FIGURE_SIZE[1]
            pic_w = min(width, Emu(int(box_h * ratio)))
            slide.shapes.add_picture(io.BytesIO(images[s.figure_id]), left, top, width=pic_w)
        elif s.figure is not None:
            _text(slide, "The figure is in the HTML deck (no Chromium here to draw it as an image).", left, top,
                  width, Inches(0.5), Pt(16))
        if s.notes:
            slide.notes_slide.notes_text_frame.text = s.notes
    prs.save(str(path))


def _text(slide, text: str | list[str], left, top, width, height, size, bold: bool = False) -> None:  # noqa: ANN001
    frame = slide.shapes.add_textbox(left, top, width, height).text_frame
    frame.word_wrap = True
    for i, line in enumerate([text] if isinstance(text, str) else text):
        para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        para.text = line
        para.font.size, para.font.bold = size, bold


def _cell(cell, text: str, size, bold: bool = False) -> None:  # noqa: ANN001
    cell.text = text
    for para in cell.text_frame.paragraphs:
        para.font.size, para.font.bold = size, bold
