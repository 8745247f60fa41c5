"""Tracking and confirmation quality, measured against ground truth (see ``analysis/eval/README.md``)."""
