"""`python -m core.studies.object_detection`: queue the runs the flags describe and train them here (`--help`)."""

import sys

from core.studies.object_detection import STUDY
from core.worker import study_main


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, "python -m core.studies.object_detection", argv)


if __name__ == "__main__":
    sys.exit(main())
