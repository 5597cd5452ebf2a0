"""One shape for every study: imports run one way, a study is one Study object in one list, one worker carries out
any study's queued runs, and a study's settings are one dataclass (its flags, its stored config, what the worker
reads back)."""

import ast
import json
from dataclasses import dataclass, field, fields, make_dataclass, replace
from pathlib import Path

import pytest

from core import tasks, worker
from core.engine import config as settings
from core.engine import finals
from core.engine.events import EpochEnd
from core.engine.store import RunStore
from core.engine.study import Headline, Study
from core.experiments.comparison import Comparison
from core.studies import face_detection, index

ROOT = Path(__file__).resolve().parents[1]

# Top to bottom: a module imports its own layer (without circles) and the layers below it, never one above.
# A prefix names a package and everything in it; the longest prefix that fits a module decides its layer, and any
# command-line entry (a __main__ module) sits with the apps.
LAYERS = (
    ("pages", ("streamlit_app", "app_pages")),
    ("ui", ("ui",)),
    ("apps", ("core.runs", "core.worker", "core.train", "core.studies.index", "core.experiments.__main__",
              "core.experiments.headlines", "core.env_check", "core.talk")),
    ("studies", ("core.studies",)),
    ("variants", ("core.registry", "core.predictors", "core.explain", "core.experiments")),  # models over runs
    ("engine", ("core.engine",)),
    ("libraries", ("core",)),  # data, models, metrics, features, plots, weights, numbers, files, tasks …
)
# Project imports allowed inside a function: (module, imported) -> why. Only for a heavy optional dependency.
IN_FUNCTION: dict[tuple[str, str], str] = {}


def _modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in [*root.glob("core/**/*.py"), *root.glob("ui/**/*.py"), *root.glob("app_pages/*.py"),
                 *root.glob("streamlit_app.py")]:
        parts = list(path.relative_to(root).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, bool, int]]:
    """(imported project module, whether inside a function, line) for each project import of a file."""
    out = []

    class Visit(ast.NodeVisitor):
        depth = 0

        def visit_FunctionDef(self, node: ast.AST) -> None:
            self.depth += 1
            self.generic_visit(node)
            self.depth -= 1

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_Import(self, node: ast.Import) -> None:
            out.extend((a.name, self.depth > 0, node.lineno) for a in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.append((full if full in modules else str(node.module), self.depth > 0, node.lineno))

    Visit().visit(ast.parse(path.read_text()))
    return [(m, inner, line) for m, inner, line in out if m in modules]


def layer(module: str) -> int:
    if module.endswith(".__main__"):
        return [name for name, _ in LAYERS].index("apps")
    best = max(((len(p), k) for k, (_, prefixes) in enumerate(LAYERS) for p in prefixes
                if module == p or module.startswith(p + ".")), default=(0, len(LAYERS) - 1))
    return best[1]


def problems(root: Path) -> list[str]:
    """Every import against the layer order, every circle, every project import inside a function outside
    IN_FUNCTION: one line each."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    found = []
    for module, path in modules.items():
        graph[module] = set()
        for imported, inner, line in _imports(path, modules):
            graph[module].add(imported)
            if inner and (module, imported) not in IN_FUNCTION:
                found.append(f"in a function: {module}:{line} imports {imported}")
            if layer(imported) < layer(module):
                found.append(f"upward: {module} ({LAYERS[layer(module)][0]}) imports {imported} "
                             f"({LAYERS[layer(imported)][0]})")
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                found.append("circle: " + " -> ".join([*path[path.index(n):], n]))
            elif n not in state:
                visit(n, [*path, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def test_imports_run_one_way_without_circles_or_imports_hidden_in_functions():
    assert problems(ROOT) == []


def test_the_import_check_catches_a_circle_an_upward_import_and_one_inside_a_function(tmp_path):
    files = {
        "core/data/a.py": "from core.data import b\n",
        "core/data/b.py": "from core.data import a\n",  # a circle
        "core/metrics/m.py": "from core.studies.s import train\n",  # a library importing a study: upward
        "core/studies/s/train.py": "def f():\n    from core.data import a\n",  # hidden inside a function
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = problems(tmp_path)
    assert "circle: core.data.a -> core.data.b -> core.data.a" in found
    assert "upward: core.metrics.m (libraries) imports core.studies.s.train (studies)" in found
    assert "in a function: core.studies.s.train:2 imports core.data.a" in found
    assert len(found) == 3


# ---- a toy study, defined here and nowhere else


@dataclass(frozen=True)
class ToyConfig:
    steps: int = 3
    target: float = 0.5
    seed: int = 0


def _toy_queue(cfg: ToyConfig, store: RunStore) -> list[str]:
    return [store.create("toy", "toy/guess", "toy", settings.to_dict(cfg))]


def _toy_train(run, rec, device):
    cfg = TOY.config_of(run)
    guess = 0.0
    for step in range(cfg.steps):  # halve the distance to the target each step
        guess += (cfg.target - guess) / 2
        event = EpochEnd(step, abs(cfg.target - guess), None, {"error": abs(cfg.target - guess)}, 0.0, 1)
        rec.event(event)
        yield event
    error = abs(cfg.target - guess)
    rec.note(seconds=0.01, final=finals.record("toy error", error, (error / 2, error * 2), f"{cfg.steps} steps"))


def _toy_comparison(study, dataset=None, store=None, device=None):
    runs = [r for r in store.list("done") if r.experiment == study.name]
    return Comparison(study.name, "toy/none", "cpu", {f"toy/{r.id}": {"error": r.history[-1]["val"]["error"]}
                                                     for r in runs})


TOY = Study(name="toy", title="Toy study", task=tasks.Task("toy", "Toy guessing", ("error",), "toy/none", "regression"),
            config=ToyConfig, presets={"quick": ToyConfig(steps=1), "default": ToyConfig()}, queue=_toy_queue,
            train=_toy_train, comparison=_toy_comparison,
            headline=Headline("final error", lambda run: run.history[-1]["val"]["error"] if run.history else None))


def test_a_toy_study_added_to_the_list_is_queued_trained_by_the_one_worker_listed_compared_and_scored(
        isolated_env, monkeypatch, capsys):
    from core.experiments import __main__ as experiments_cli
    from core.runs import __main__ as runs_cli

    monkeypatch.setattr(index, "STUDIES", (*index.STUDIES, TOY))
    store = RunStore()
    (run_id,) = TOY.queue(TOY.configs(TOY.parser("toy").parse_args(["--steps", "4"]))[0], store)
    assert worker.main(["--runs", run_id, "--cpu"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events] == ["EpochEnd"] * 4 + ["Finished"] and {e["run_id"] for e in events} == {run_id}
    run = store.get(run_id)
    assert run.status == "done" and run.history[-1]["val"]["error"] == pytest.approx(0.5 / 16)

    assert runs_cli.main(["list"]) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if run_id in ln]
    assert "Toy study" in line and "done" in line and "0.031" in line  # its headline number
    assert runs_cli.main(["show", run_id]) == 0
    assert "final error" in capsys.readouterr().out

    assert experiments_cli.main(["toy", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["experiment"] == "toy" and out["variants"] == {f"toy/{run_id}": {"error": pytest.approx(0.5 / 16)}}

    from core.runs import finals as run_finals

    (final,) = run_finals.of(run)
    assert final.text() == "0.031 [0.016, 0.062]" and final.over == "4 steps"


def test_a_run_of_a_study_this_version_lacks_is_named_listed_as_such_and_left_untouched(isolated_env, capsys):
    from core.runs import __main__ as runs_cli

    store = RunStore()
    run_id = store.create("martian", "x", "martian", {"gravity": 3.7})
    before = store.get(run_id)
    assert worker.main(["--runs", run_id]) == 2
    err = capsys.readouterr().err
    assert f"run {run_id}: its study 'martian' is unknown to this version" in err and "left as it is" in err
    assert store.get(run_id) == before
    assert runs_cli.main(["list"]) == 0
    assert "unknown study 'martian'" in next(ln for ln in capsys.readouterr().out.splitlines() if run_id in ln)


def _with_field(study: Study, **extra: tuple[type, object]) -> Study:
    """The study with fields added to its config dataclass, as an edit of that dataclass would add them."""
    cls = make_dataclass(study.config.__name__, [(n, t, field(default=d)) for n, (t, d) in extra.items()],
                         bases=(study.config,), frozen=True)
    cls.__module__ = study.config.__module__
    presets = {k: cls(**{f.name: getattr(v, f.name) for f in fields(v)}) for k, v in study.presets.items()}
    return replace(study, config=cls, presets=presets)


def test_a_field_added_to_a_study_config_is_a_flag_is_stored_and_is_read_back_by_the_worker(isolated_env,
                                                                                            monkeypatch, capsys):
    study = _with_field(face_detection.STUDY, nms_margin=(float, 0.25))
    parser = study.parser("python -m core.studies.face_detection")
    assert "--nms-margin" in parser.format_help()
    args = parser.parse_args(["--nms-margin", "0.4", "--epochs", "1", "--no-hard-negatives", "--max-train-images", "4",
                              "--max-val-images", "3"])
    (cfg,) = study.configs(args)
    store = RunStore()
    (run_id,) = study.queue(cfg, store)
    assert store.get(run_id).config["nms_margin"] == 0.4
    seen = []

    def train(run, rec, device):
        seen.append(study.config_of(run))  # what the worker hands the trainer
        yield from face_detection.STUDY.train(run, rec, device)
    monkeypatch.setattr(index, "STUDIES", tuple(replace(study, train=train) if s.name == study.name else s
                                                for s in index.STUDIES))
    assert worker.main(["--runs", run_id, "--cpu"]) == 0, capsys.readouterr().err
    assert [c.nms_margin for c in seen] == [0.4] and seen[0].epochs == 1
    assert store.get(run_id).status == "done"


def test_an_older_config_opens_with_defaults_for_new_settings_and_names_the_removed_ones(isolated_env):
    study = _with_field(face_detection.STUDY, nms_margin=(float, 0.25))
    store = RunStore()
    old = store.get(store.create("face_detection", "mtcnn/pretrained", "face_detection",
                                 {"stages": ["pnet"], "epochs": 2, "strategy": "finetuned-pnet", "gamma": 0.9}))
    cfg, message = study.read_config(old)
    assert (cfg.nms_margin, cfg.epochs, cfg.stages) == (0.25, 2, ("pnet",))
    assert "no longer has: gamma" in message
    from core import runs as runlist

    assert "gamma" in runlist.settings_note(old)


def test_nested_settings_and_sweeps_make_one_config_per_value():
    from core.studies import transfer

    study = transfer.CLASSIFICATION
    args = study.parser("t").parse_args(["--strategies", "frozen", "finetune", "--lr", "0.01", "--no-class-weights",
                                         "--workers", "none"])
    cfgs = study.configs(args)
    assert [c.strategy.name for c in cfgs] == ["frozen", "finetune"]
    assert {c.strategy.lr for c in cfgs} == {0.01} and not any(c.class_weighted for c in cfgs)
    assert all(c.workers is None and c.dataset == study.default_dataset for c in cfgs)
    assert settings.read(type(cfgs[0]), settings.to_dict(cfgs[0]))[0] == cfgs[0]  # the only serialisation, both ways


def test_a_stored_config_this_version_cannot_read_fails_its_run_with_the_reason(isolated_env, capsys):
    store = RunStore()
    run_id = store.create("face_detection", "mtcnn/pretrained", "face_detection", {"stages": ["pnet"], "epochs": "many"})
    assert worker.main(["--runs", run_id]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: run {run_id}: its stored settings cannot be read by this version") and \
        "Traceback" not in err
    run = store.get(run_id)
    assert run.status == "failed" and "cannot be read" in run.message
