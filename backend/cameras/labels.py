"""The detector's labels, for the admin's choice of tracked objects, read without loading the detector.

The detector (``analysis.detectors.centernet``) parses them from its weights package at load time; importing
it here would pull torch into the web process (``tests/test_architecture.py`` forbids it). So the same file
is read again here with the same pattern (``tests/api/test_tracked_objects.py`` checks both agree). For
another detector, or when the package is not installed, there is no list: labels are typed.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from django.conf import settings

from backend.sightline.config import REPO_ROOT

#: As ``analysis.detectors.centernet``: ``MODEL_DIR_ENV``, ``default_model_dir()``, ``LABELS_TS``, ``_LABEL_RE``.
_MODEL_DIR_ENV = "SIGHTLINE_MODEL_DIR"
_DEFAULT_MODEL_DIR = REPO_ROOT / "analysis" / "weights" / "node_modules" / "@vladmandic" / "human"
_LABELS_TS = Path("src/object/labels.ts")
_LABEL_RE = re.compile(r"\{\s*class:\s*(\d+)\s*,\s*label:\s*'([^']+)'\s*\}")


def detector_labels() -> tuple[str, ...]:
    """The configured detector's labels in class order; empty when they cannot be read cheaply."""
    if settings.SIGHTLINE.DETECTOR != "centernet":
        return ()
    return _centernet_labels(Path(os.environ.get(_MODEL_DIR_ENV) or _DEFAULT_MODEL_DIR) / _LABELS_TS)


@functools.cache
def _centernet_labels(path: Path) -> tuple[str, ...]:
    try:
        text = path.read_text()
    except OSError:
        return ()
    return tuple(label for _, label in sorted((int(c), label) for c, label in _LABEL_RE.findall(text)))
