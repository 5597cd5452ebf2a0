"""Set-up check run by `make`: exactly one OpenCV package, and the packaged weights importable."""

from __future__ import annotations

import sys
from importlib import metadata

OPENCV_PACKAGES = ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                   "opencv-contrib-python-headless")


def installed_opencv() -> list[str]:
    found = []
    for name in OPENCV_PACKAGES:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def main() -> int:
    opencv = installed_opencv()
    if opencv != ["opencv-python-headless"]:
        print(f"error: expected exactly opencv-python-headless, found {opencv or 'none'}; "
              f"run: pip uninstall -y {' '.join(OPENCV_PACKAGES)} && pip install opencv-python-headless",
              file=sys.stderr)
        return 1
    import cv2  # noqa: F401  (fails here, not in a page, if the OpenCV install is broken)
    print(f"environment ok: opencv-python-headless {metadata.version('opencv-python-headless')}, "
          f"torch {metadata.version('torch')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
