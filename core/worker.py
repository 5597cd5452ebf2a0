"""The one worker, and the one place its processes start.

    python -m core.worker --runs RUN_ID [RUN_ID ...] [--cpu]

carries out queued runs of any study, in order: each run's study is read from the run (core.studies.index), its
stored config read back (new settings at their defaults; settings an older version stored and this one no longer
has are named on stderr), and the study's `train(run, recorder, device)` called inside the run's recording. A run
whose study this version does not know is named on stderr and left as it is. One JSON line per event on stdout;
exit 2 with one message on bad input, 130 when stopped. Under torchrun every process joins; rank 0 records.

core.engine.launch starts it for queued runs (a page's Train button, prepare, resume).

Each study's own command line (`python -m core.studies.NAME --flags`) queues the runs its flags describe and
carries them out here, in the foreground (`study_main`)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from core import devices, numbers, registry
from core.engine import cli, distributed
from core.engine.events import Finished
from core.engine.loop import Predictions
from core.engine.recording import Discard
from core.engine.store import LIVE, Run, RunStore, carry_out
from core.engine.study import Study
from core.experiments import evidence
from core.studies import index


def _train_one(run: Run, study: Study, store: RunStore, device: object) -> Iterator[object]:
    if not distributed.is_main():  # torchrun's other processes train their share; rank 0 records
        yield from study.train(run, Discard(), device)  # type: ignore[arg-type]
        return
    with store.recording(run.id) as rec:
        try:
            _, removed = study.read_config(run)
        except (TypeError, ValueError) as exc:  # the run is failed with this message, the process goes on
            raise ValueError(f"run {run.id}: its stored settings cannot be read by this version ({exc})") from None
        if removed:
            print(f"run {run.id}: {removed}", file=sys.stderr)
        yield from study.train(run, rec, device)  # type: ignore[arg-type]
    done = store.get(run.id)
    try:
        name = registry.run_variant(done).name
    except (KeyError, ValueError, TypeError):  # a study whose runs are no variant of their own (an autoencoder)
        name = f"{done.base_variant}-{done.id}"
    yield Finished(run.id, name, float(numbers.number(done.metrics.get("seconds", done.seconds))))


def known(run_ids: list[str], store: RunStore) -> list[str]:
    """The runs whose study this version knows; each other one is named on stderr and left as it is."""
    out = []
    for run_id in run_ids:
        study = index.find(store.get(run_id).experiment)
        if study is None:
            print(f"run {run_id}: its study {store.get(run_id).experiment!r} is unknown to this version (choose from "
                  f"{[s.name for s in index.STUDIES]}); left as it is", file=sys.stderr)
            continue
        out.append(run_id)
    return out


def carry(run_ids: list[str], store: RunStore, device: object) -> Iterator[tuple[Run, object]]:
    """Queued runs of known studies in order, each by its study (see carry_out: a stop removes the runs after it)."""
    return carry_out(run_ids, store, lambda run: _train_one(run, index.get(run.experiment), store, device))


def _print(run_ids: list[str], store: RunStore, device: object) -> int:
    def events() -> Iterator[tuple[dict, object]]:
        for run, event in carry(run_ids, store, device):
            if distributed.is_main() and not isinstance(event, Predictions):  # test outputs go to the run's file
                yield {"run_id": run.id, "strategy": run.config.get("strategy")}, event
    try:
        return cli.print_events(events)
    finally:
        distributed.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.worker", description=__doc__.split("\n\n")[1].strip())
    p.add_argument("--runs", nargs="+", metavar="RUN_ID", required=True, help="queued runs, carried out in order")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    args = p.parse_args(argv)
    device = distributed.init(devices.pick_device(force_cpu=args.cpu))  # under torchrun: joins the group
    store = RunStore()
    try:
        ids = [store.get(r).id for r in args.runs]
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    runnable = known(ids, store)
    code = _print(runnable, store, device) or (2 if len(runnable) < len(ids) else 0)
    if distributed.is_main():
        warm(runnable, store)
    return code


def warm(run_ids: list[str], store: RunStore) -> None:
    """Score the evidence of the studies these runs belong to, once none of their runs is queued or running, and
    keep it in the runs folder (core.experiments.evidence.cached): their pages, the Home tiles and the talk then
    read it instead of computing it. On the device the pages use. Never fails the worker."""
    runs = store.list()
    names = {r.experiment for r in runs if r.id in run_ids}
    for study in [s for s in index.STUDIES if s.name in names and s.scores is not None]:
        if any(r.experiment == study.name and r.status in LIVE for r in runs):
            continue
        try:
            found = evidence.cached(study, store, devices.pick_device())
            evidence.figure_png(study, store, devices.pick_device(), found)  # for presentation mode
        except Exception as exc:  # noqa: BLE001 - a page computes it when it is opened
            print(f"{study.name}: its evidence was not kept ({exc})", file=sys.stderr)


def study_main(study: Study, prog: str, argv: list[str] | None = None) -> int:
    """A study's own command line: queue the runs its flags describe (one per sweep value) and carry them out."""
    args = study.parser(prog).parse_args(argv)
    device = distributed.init(devices.pick_device(force_cpu=args.cpu))
    store = RunStore()
    try:
        ids = args.runs or distributed.share(lambda: [i for cfg in study.configs(args) for i in study.queue(cfg, store)])
    except cli.BAD_INPUT as exc:
        with contextlib.suppress(Exception):
            distributed.close()
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    return _print(ids, store, device)


if __name__ == "__main__":
    sys.exit(main())
