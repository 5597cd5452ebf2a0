"""`python -m core.studies.transfer`: queue the runs the flags describe and train them here (`--help`). The
dataset decides the task: a classification set makes classification runs, a regression set regression runs."""

import sys

from core.studies.transfer import CLASSIFICATION
from core.worker import study_main


def main(argv: list[str] | None = None) -> int:
    return study_main(CLASSIFICATION, "python -m core.studies.transfer", argv)


if __name__ == "__main__":
    sys.exit(main())
