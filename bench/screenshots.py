"""The README's screenshots: every page in presentation mode at 1280 × 720, as a projector shows it, from a prepared
runs folder.

    python -m bench.screenshots --runs DIR [--out assets/screenshots]

Each study page is taken once its evidence is on screen, the other pages once their first result or form is."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import pages

ROOT = Path(__file__).resolve().parents[1]
# page -> what to wait for before the picture (a CSS selector), beside the study pages' evidence
OTHERS = {"home": "[class*=st-key-tile-]", "try_image": ".js-plotly-plot", "score": ".js-plotly-plot",
          "runs": "[data-testid=stDataFrame]", "talk": "button", "datasets": "[data-testid=stDataFrame]",
          "models": "[data-testid=stFileUploader]"}


def take(folder: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    proc, url = pages._serve(folder)
    taken = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": 1280, "height": 720})
            for name in [*OTHERS, *pages.STUDY_PAGES]:
                page = context.new_page()
                page.set_default_timeout(300_000)
                pages._open_and_wait(page, url, name, OTHERS.get(name))
                page.wait_for_timeout(2500)  # figures settle at their final size
                path = out / f"{name}.png"
                page.screenshot(path=path)
                taken.append(path)
                page.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(20)
    return taken


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.screenshots", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", required=True, help="a prepared runs folder (python -m core.runs prepare)")
    p.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshots")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in take(args.runs, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
