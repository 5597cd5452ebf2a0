"""`python -m core.runs COMMAND`: the Runs page from a shell.

  list [--status S] [--study TEXT] [--json]   every run, newest first
  show RUN [--json]                           one run: its row, config and last epoch
  rename RUN NAME · tag RUN TAG… · note RUN TEXT · pin RUN · unpin RUN
  delete RUN [--yes]                          the run and its files (a running run must be stopped first)
  export RUN… [--out PATH] [--html] [--checkpoint]   a zip bundle, or (--html) the one-page report
  prepare [--background] [--seeds N]          train each study's default variant that this machine lacks (--seeds:
                                              the settings each study compares, with seeds 0 … N-1 each)
  resume                                      start a process for queued runs whose own ended before they began
  stop RUN | stop --all                       stop a run in progress (a running run keeps its last checkpoint; a
                                              queued one is removed), or every one
  pause · continue                            pause the processes of the runs in progress; carry on with them
  replicates RUN RUN…                         whether the runs are replicates of one setting (else what differs)

RUN is an id, a unique part of one (its start or its last 6 characters), or a name. Runs live in $TLDASH_RUNS_DIR
(default ./runs)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import numbers
from core import runs as runlist
from core.engine.store import RunStore, RunStoreError
from core.runs import control, export, prepare
from core.studies import index


def _table(rows: list[runlist.Row]) -> str:
    head = ("id", "name", "status", "study", "strategy", "seed", "setting", "epochs", "value", "seconds", "created")
    lines = [head]
    for r in rows:
        value = "–" if r.value is None else numbers.text(r.value)
        lines.append((r.id, r.name or "–", r.status + (" (pinned)" if r.pinned else ""), r.study, r.strategy,
                      "–" if r.seed is None else r.seed, r.setting or "–", r.epochs, value, f"{r.seconds:,.0f}",
                      r.created))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def _shown(value: object) -> str:
    """One field of `show` for a person: JSON for tables and lists, "undefined (…)" for a number that is."""
    if isinstance(value, dict | list):
        return json.dumps(numbers.shown(value), ensure_ascii=False)
    return numbers.text(value) if numbers.is_number(value) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.runs", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list")
    p.add_argument("--status")
    p.add_argument("--study", help="part of the study's title or experiment name")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("show")
    p.add_argument("run")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("rename")
    p.add_argument("run")
    p.add_argument("name")
    p = sub.add_parser("tag")
    p.add_argument("run")
    p.add_argument("tags", nargs="*", help="the run's tags, all of them (none: no tags)")
    p = sub.add_parser("note")
    p.add_argument("run")
    p.add_argument("text")
    for name in ("pin", "unpin"):
        sub.add_parser(name).add_argument("run")
    p = sub.add_parser("delete")
    p.add_argument("run")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p = sub.add_parser("export")
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", type=Path)
    p.add_argument("--html", action="store_true", help="the one-page report instead of the zip bundle")
    p.add_argument("--checkpoint", action="store_true", help="put the checkpoint files in the bundle")
    p = sub.add_parser("prepare")
    p.add_argument("--background", action="store_true", help="start the training and return")
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="each compared setting with N seeds (1 to 20)")
    sub.add_parser("resume", help="start a process for queued runs whose own ended before they began (a reboot)")
    p = sub.add_parser("stop", help="stop a run in progress (a running one keeps its last checkpoint; a queued one is "
                                    "removed), or all of them")
    p.add_argument("run", nargs="?")
    p.add_argument("--all", action="store_true")
    sub.add_parser("pause", help="pause the processes of the runs in progress (`continue` carries on)")
    sub.add_parser("continue", help="carry on with paused runs")
    sub.add_parser("replicates", help="whether runs are replicates of one setting").add_argument("runs", nargs="+")
    args = parser.parse_args(argv)
    store = RunStore()
    try:
        return _run(args, store)
    except (KeyError, RunStoreError, export.ExportError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, store: RunStore) -> int:
    if args.command == "list":
        rows = runlist.rows(store)
        if args.status:
            rows = [r for r in rows if r.status == args.status]
        if args.study:
            rows = [r for r in rows if args.study.lower() in r.study.lower()]
        print(numbers.public_dumps([r.as_dict() for r in rows], indent=2) if args.json else _table(rows))
        return 0
    if args.command == "resume":
        resumed = prepare.resume(store)
        for experiment, ids, pid in resumed:
            print(f"{index.title(experiment)}: {len(ids)} queued run(s) {', '.join(ids)} (process {pid})")
        print(f"resumed {sum(len(ids) for _, ids, _ in resumed)} queued run(s)" if resumed else
              "no queued run lacks a process")
        return 0
    if args.command == "stop":
        if bool(args.run) == args.all:
            print("error: name one run, or --all", file=sys.stderr)
            return 2
        ids = None if args.all else [runlist.find(store, args.run).id]
        lines = control.stop(store, ids)
        print("\n".join(lines) if lines else "nothing is queued or running")
        return 0
    if args.command in ("pause", "continue"):
        n = (control.pause if args.command == "pause" else control.resume)(store)
        print(f"{'paused' if args.command == 'pause' else 'carrying on with'} {n} process(es)" if n else
              "nothing is queued or running")
        return 0
    if args.command == "replicates":
        note = runlist.replicates_note([runlist.find(store, ref) for ref in args.runs]) or "give two runs or more"
        print(note)
        return 0 if note.startswith("Replicates") else 1
    if args.command == "prepare":
        for experiment, ids, pid in prepare.resume(store):  # the queue left by a reboot goes first, in its order
            print(f"{index.title(experiment)}: resumed {len(ids)} queued run(s) (process {pid})")
        try:
            started = prepare.start(store, seeds=args.seeds)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if not started:
            print("prepared already: every study's default variant is done, queued or running here")
            return 0
        for study, ids, pid in started:
            print(f"{study.title}: queued {len(ids)} run(s) {', '.join(ids)} (process {pid})")
        if args.background:
            print("training in the background, one run at a time; the Home and Runs pages show the progress")
            return 0
        return 0 if prepare.wait(started, store) else 1
    run = runlist.find(store, args.run if args.command != "export" else args.runs[0])
    if args.command == "show":
        shown = {**runlist.row(run).as_dict(), "config": run.config, "settings": runlist.settings_note(run),
                 "last_epoch": run.history[-1] if run.history else None, "files": [str(p) for p in store.files(run.id)]}
        print(numbers.public_dumps(shown, indent=2) if args.json else
              "\n".join(f"{k}: {_shown(v)}" for k, v in shown.items()))
    elif args.command == "rename":
        print(f"{run.id} is now named {store.label(run.id, name=args.name).name!r}")
    elif args.command == "tag":
        print(f"{run.id} tags: {', '.join(store.label(run.id, tags=args.tags).tags) or 'none'}")
    elif args.command == "note":
        store.label(run.id, note=args.text)
        print(f"{run.id}: note saved")
    elif args.command in ("pin", "unpin"):
        store.pin(run.id, args.command == "pin")
        print(f"{run.id} {'is now' if args.command == 'pin' else 'is no longer'} the baseline of {run.experiment}")
    elif args.command == "delete":
        if not args.yes and input(f"Delete run {run.id} and its files? [y/N] ").strip().lower() != "y":
            print("kept")
            return 1
        removed = store.delete(run.id)
        print(f"deleted {run.id} and {len(removed)} file(s)")
    elif args.command == "export":
        runs = [runlist.find(store, ref) for ref in args.runs]
        stem = runs[0].id if len(runs) == 1 else f"{len(runs)}-runs"
        if args.html:
            out = args.out or Path(f"{stem}.html")
            out.write_text(export.report_html(runs), encoding="utf-8")
        else:
            out = args.out or Path(f"{stem}.zip")
            out.write_bytes(export.bundle(runs, store, checkpoint=args.checkpoint))
        print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
