"""One table of tasks: everything that lists tasks reads core.tasks, and no second list comes back."""

import ast
import contextlib
import dataclasses
from pathlib import Path

import pytest

from core import registry, tasks
from core.experiments import __main__ as experiments_cli
from core.metrics import __main__ as metrics_cli
from core.studies import index

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for d in ("core", "ui", "app_pages", "bench") for p in (ROOT / d).rglob("*.py")] + [ROOT / "streamlit_app.py"]


def test_the_table_holds_each_task_once_with_its_metrics_and_default_data():
    assert list(tasks.TASKS) == ["classification", "regression", "face_detection", "face_verification",
                                 "object_detection", "feature_extraction"]
    for task in tasks.TASKS.values():
        assert task.metrics and task.headline == task.metrics[0] and task.default_dataset and task.title
    assert tasks.get("classification").headline == "mCA" and tasks.get("regression").headline == "pearson"
    with pytest.raises(KeyError, match="choose from"):
        tasks.get("juggling")


def _task_name_collections(path: Path) -> list[tuple[int, list[str]]]:
    """Literal lists, tuples, sets and dict keys naming two or more tasks: a second list of tasks."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        items = node.keys if isinstance(node, ast.Dict) else node.elts if isinstance(
            node, ast.List | ast.Tuple | ast.Set) else []
        named = [i.value for i in items if isinstance(i, ast.Constant) and i.value in tasks.TASKS]
        if len(named) >= 2:
            found.append((node.lineno, named))
    return found


def test_no_module_keeps_a_second_list_of_tasks():
    offenders = {str(p.relative_to(ROOT)): hits for p in SOURCES if p.name != "tasks.py"
                 for hits in [_task_name_collections(p)] if hits}
    assert offenders == {}, "list the tasks in core/tasks.py only; these keep their own: " + repr(offenders)


def test_the_scan_would_see_a_second_list(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text('KINDS = {"classification": 1, "regression": 2}\nif x in ("face_detection", "regression"): pass\n')
    assert [n for _, n in _task_name_collections(sneaky)] == [["classification", "regression"],
                                                               ["face_detection", "regression"]]


def test_registry_cli_and_score_formats_read_the_table():
    assert {v.task for v in registry.all_variants().values()} <= set(tasks.TASKS)
    with pytest.raises(KeyError, match="choose from"):
        registry.for_task("juggling")
    scored = {t.scoring for t in tasks.scored()}
    assert scored == {"detection", "verification", "classification", "regression"}
    help_text = metrics_cli.parser().format_help()
    assert all(family in help_text for family in scored)


def test_experiments_cli_offers_exactly_the_studies_with_a_comparison(capsys):
    with pytest.raises(SystemExit):
        experiments_cli.main(["juggling"])
    err = capsys.readouterr().err
    assert all(f"'{name}'" in err for name in index.with_comparison())
    assert "face_verification" in index.with_comparison()
    planned = dataclasses.replace(index.get("object_detection"), name="planned", comparison=None)
    with monkeypatch_studies([*index.STUDIES, planned]):
        assert "planned" not in index.with_comparison() and index.get("planned") is planned


def test_every_task_has_a_study_whose_queued_runs_the_worker_carries_out():
    assert {s.task.name for s in index.STUDIES} == set(tasks.TASKS)  # every study's runs can be resumed after a reboot
    assert all(callable(s.train) and callable(s.queue) and s.defaults is not None for s in index.STUDIES)
    with pytest.raises(KeyError, match="choose from"):
        index.get("juggling")


@contextlib.contextmanager
def monkeypatch_studies(studies):
    saved = index.STUDIES
    index.STUDIES = tuple(studies)
    try:
        yield
    finally:
        index.STUDIES = saved
