"""The trainers' old command lines (`python -m core.train.NAME`): each says where it went and exits with status 2.
Studies live in core/studies now; `python -m core.studies.NAME` trains one, `python -m core.worker --runs ID …`
carries out queued runs of any study."""

import sys


def moved(old: str, new: str) -> None:
    print(f"error: `python -m {old}` moved: use `python -m {new}` (its --help lists the settings), or "
          "`python -m core.worker --runs RUN_ID …` for runs already queued", file=sys.stderr)
    sys.exit(2)
