"""`python -m core.studies.face_verification`: queue the runs the flags describe and train them here (`--help`)."""

import sys

from core.studies.face_verification import STUDY
from core.worker import study_main


def main(argv: list[str] | None = None) -> int:
    return study_main(STUDY, "python -m core.studies.face_verification", argv)


if __name__ == "__main__":
    sys.exit(main())
