"""The app served by `streamlit run`, driven in headless Debian Chromium through Playwright: pages
and sessions."""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

from tests.browser import ARTIFACTS, NO_CHROMIUM, _choose, _new_page, _upload_text_then_photo

pytestmark = NO_CHROMIUM


def test_home_page_in_a_real_browser(server, page):
    from playwright.sync_api import expect

    page.goto(server)
    expect(page.get_by_role("heading", name="Transfer learning, side by side")).to_be_visible()
    expect(page.get_by_text("Pretrained weights")).to_be_visible()
    expect(page.get_by_text("Force CPU")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "home.png")


def test_try_image_survives_a_bad_upload_then_runs(server, page, tmp_path):
    """Face detection chosen, then an upload (refused, then a photo), then back to the samples: the task box shows
    face detection throughout and the page runs it (the box used to fall back to its first task)."""
    from playwright.sync_api import expect

    page.goto(f"{server}/try_image")
    expect(page.get_by_text("ms / image").first).to_be_visible()
    expect(page.get_by_text("Force CPU")).to_be_visible()  # served inside the app's navigation
    task = page.locator("[data-testid=stSelectbox]").filter(has_text="Task").locator("input")
    task.click()
    page.get_by_role("option", name="Face detection", exact=True).click()
    expect(page.get_by_text("face(s) found").first).to_be_visible()
    page.get_by_text("Upload", exact=True).click()
    _upload_text_then_photo(page, tmp_path, "holiday.jpg")
    speeds = page.locator("[data-testid=stMetric]").filter(has_text="ms / image")
    expect(speeds).to_have_count(1)  # one face detector here: MTCNN pretrained
    expect(page.get_by_text("not an image")).to_have_count(0)
    expect(task).to_have_value("Face detection")
    expect(page.get_by_text("face(s) found").first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "try_image.png", full_page=True)
    page.get_by_text("Sample photo", exact=True).click()
    expect(page.get_by_text("face(s) found").first).to_be_visible()
    expect(task).to_have_value("Face detection")


def test_score_page_downloads_a_png_for_slides(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server}/score")
    page.get_by_text("Face detection (COCO json)").click()
    expect(page.get_by_text("AP (COCO)")).to_be_visible()
    _settled(page)  # the classification example's PNG buttons, left from the run before, are gone
    with page.expect_download() as info:
        page.locator(".st-key-score-fig-pr-export-png").get_by_role("button", name="PNG").click()
    path = info.value.path()
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert info.value.suggested_filename == "precision_recall.png"
    page.screenshot(path=ARTIFACTS / "score.png", full_page=True)


def _settled(page) -> None:
    """Wait for the page's script run to end: until then, elements of the run before are still on the page
    (marked stale), and a download button among them serves a file that is no longer there."""
    from playwright.sync_api import expect

    expect(page.locator("[data-stale=true]")).to_have_count(0)


@contextlib.contextmanager
def _slot_taken(runs_dir):
    """The machine's one training slot held by a run of this test process's own: runs started meanwhile wait in
    line, each with its place, however fast or slow this machine is; they start when it ends."""
    from core.engine.store import RunStore

    store = RunStore(runs_dir)
    run = store.create("classification", "blocker", "classification", {"dataset": "a run of another user"})
    store.assign([run], os.getpid())
    assert store.claim(run, 1) == 0
    try:
        yield run
    finally:
        store.update(run, status="stopped")


def test_the_runs_page_compares_picked_rows_and_a_link_reopens_the_comparison(server, browser, runs_dir):
    from playwright.sync_api import expect

    from core.engine.store import RunStore
    from tests.test_runs import _classification_run

    store = RunStore(runs_dir)
    a, b = _classification_run(store, "scratch", 3), _classification_run(store, "finetune", 5)
    pg = _new_page(browser)
    pg.goto(f"{server}/runs")
    expect(pg.get_by_text("the baseline its study's page compares against", exact=False)).to_be_visible()
    grid = pg.locator("[data-testid=stDataFrame]").first
    grid.hover()
    box = grid.bounding_box()  # the two newest rows: the runs just made (the canvas grid: click its checkboxes)
    pg.mouse.click(box["x"] + 16, box["y"] + 35 + 17)
    expect(pg.get_by_text(f"{b} · done")).to_be_visible()  # one run: its labels and exports
    _settled(pg)  # a click on the grid while the page still reruns from the first can be lost on a loaded machine
    pg.mouse.click(box["x"] + 16, box["y"] + 35 * 2 + 17)
    expect(pg.get_by_text("2 runs compared")).to_be_visible()
    _settled(pg)  # the one-run view (its heading, its report button) has been replaced by the two runs' one
    expect(pg.get_by_text("Settings and results")).to_be_visible()
    with pg.expect_download() as info:
        pg.get_by_role("button", name="Report (HTML)").click()
    assert info.value.suggested_filename == "2-runs.html"
    assert "2 runs compared" in Path(info.value.path()).read_text(encoding="utf-8")
    link = pg.url
    assert a in link and b in link  # the picked runs are in the URL
    other = _new_page(browser)  # a second tab opened from the link: the same comparison
    other.goto(link)
    expect(other.get_by_text("2 runs compared")).to_be_visible()
    other.screenshot(path=ARTIFACTS / "runs.png", full_page=True)
    for tab in (pg, other):
        tab.context.close()


def _job_processes(runs_dir) -> list:
    """Trainer processes working for this test's run store."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "core.worker" in " ".join(proc.info["cmdline"] or []) and \
                    proc.environ().get("TLDASH_RUNS_DIR") == str(runs_dir):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_five_sessions_start_and_stop_runs_without_cross_talk_or_orphans(server, browser, runs_dir):
    """Five users on the classification page at once, each starting runs while another user's run holds the one
    slot: the second starts three (scratch · frozen · finetune), the others one each. All seven wait in line, each
    page showing its own place and no other's progress. Three users press Stop while waiting (their runs are
    removed, the three of the second's job too); the fifth closes its tab. When the slot frees, the first in line
    trains and its user stops it mid-run; then the closed tab's run goes on to the end and is listed on the Runs
    page, and another user's page offers it for comparison without adding it. Afterwards no run is left queued or
    running and no trainer process is left."""
    from playwright.sync_api import expect

    from core.engine.store import LIVE, RunStore

    url = f"{server}/classification?cls.dataset=user%2Fqueue_b&cls.strategy.True=frozen&cls.size=32&cls.epochs=1"
    long_run = f"{server}/classification?cls.dataset=user%2Fqueue_b&cls.strategy.True=finetune&cls.size=224&cls.epochs=30"
    users = [_new_page(browser) for _ in range(5)]
    for pg in users:
        pg.goto(long_run if pg is users[0] else url)
        expect(pg.get_by_role("button", name=re.compile(r"^Train (frozen|finetune)"))).to_be_enabled()
    expect(users[4].get_by_text(re.compile(r"Trainable parameters · 2,562 of 2,22\d,\d{3} \(0\.1%\)"))).to_be_visible()
    store = RunStore(runs_dir)

    def queued_here() -> list:
        return [r for r in store.list() if r.config.get("dataset") == "user/queue_b"]

    def wait_for(count: int) -> None:
        deadline = time.time() + 60
        while time.time() < deadline and len(queued_here()) < count:
            time.sleep(0.2)
    with _slot_taken(runs_dir):
        for pg, total in zip(users, (1, 4, 5, 6, 7), strict=True):  # one at a time: the places are known
            name = "Train scratch · frozen · finetune with these settings" if pg is users[1] else \
                re.compile(r"^Train (frozen|finetune)$")
            pg.get_by_role("button", name=name).click()
            wait_for(total)
        places = []
        for pg in users:  # each follows its own runs: its first run's place in line, no other's progress in its panel
            own = pg.locator(".st-key-job-own-cls")  # the others' jobs show beside it, each "started elsewhere"
            line = own.get_by_text(re.compile(r"Waiting in the queue: \d\w\w in line"))
            expect(line).to_be_visible()
            places.append(re.search(r"(\d)\w\w in line", line.inner_text()).group(1))
            expect(own.get_by_text(re.compile(r"of [2-9]\)"))).to_have_count(0)
        assert places == list("12567")  # the second's three runs hold places 2 to 4
        assert len(queued_here()) == 7  # each session's own runs, none shared
        closed = next(r.id for r in queued_here() if r.created == max(q.created for q in queued_here()))
        for pg, removed in zip(users[1:4], (3, 1, 1), strict=True):
            pg.get_by_role("button", name="Stop", exact=True).click()
            expect(pg.get_by_text(f"Removed {removed} queued run(s) that had not started.")).to_be_visible()
        expect(users[0].get_by_text("Waiting in the queue: 1st in line", exact=False)).to_be_visible()  # untouched
        users[4].close()  # closing a tab does not stop its run
    expect(users[0].get_by_text("Training finetune (1 of 1)", exact=False)).to_be_visible()  # the slot is free
    _settled(users[0])  # a Stop button left from the page's run before is replaced: a click on it would be lost
    users[0].get_by_role("button", name="Stop", exact=True).click()
    expect(users[0].get_by_text("Stopped: 1 run(s)", exact=False)).to_be_visible()
    deadline = time.time() + 240
    while time.time() < deadline and (any(r.status in LIVE for r in store.list()) or _job_processes(runs_dir)):
        time.sleep(1)
    runs = {r.id: r for r in queued_here()}
    assert not [r.id for r in runs.values() if r.status in LIVE] and not _job_processes(runs_dir)  # no orphans
    assert sorted(r.status for r in runs.values()) == ["done", "stopped"]  # five removed, never started
    assert runs[closed].status == "done"  # the closed tab's run waited its turn and went on to the end
    other = users[1]  # another user's page, still open: the run finished elsewhere is offered, not added
    _choose(other, "Dataset", "cartoon_faces/gender")  # it reruns now that the run has finished
    _choose(other, "Dataset", "user/queue_b")
    expect(other.get_by_text("Pick the runs to compare", exact=False)).to_be_visible()
    expect(other.get_by_text(re.compile(r"^Test split · "))).to_have_count(0)
    viewer = _new_page(browser)  # the Runs page lists it
    viewer.goto(f"{server}/runs?runs.compare={closed}")
    expect(viewer.get_by_text(f"{closed} · done")).to_be_visible()
