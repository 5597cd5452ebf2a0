"""What every trainer's command line shares: events as JSON lines, one message and status 2 on bad
input, status 130 when stopped (SIGTERM from a page's Stop button, or Ctrl-C)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict

from core.data.types import DataError
from core.engine.recording import stop_on_sigterm
from core.engine.store import RunStoreError
from core.weights import WeightsUnavailable

BAD_INPUT = (ValueError, KeyError, DataError, WeightsUnavailable, RunStoreError)


def print_events(events: Callable[[], Iterator[tuple[dict, object]]]) -> int:
    """Run the trainer; each (extra fields, event) it yields is printed as one JSON line. The exit status."""
    stop_on_sigterm()
    try:
        for extra, event in events():
            print(json.dumps({"event": type(event).__name__, **extra, **asdict(event)}), flush=True)
    except BAD_INPUT as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    return 0
