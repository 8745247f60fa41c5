"""Sets up Django for a benchmark on a throw-away data directory (never the demo's or the tests')."""

from __future__ import annotations

import os
import platform
import tempfile


def setup(name: str) -> str:
    data_dir = tempfile.mkdtemp(prefix=f"sightline-bench-{name}-")
    os.environ.setdefault("SIGHTLINE_DATA_DIR", data_dir)
    os.environ.setdefault("SIGHTLINE_SECRET_KEY", "benchmark-only-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.sightline.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return data_dir


def machine() -> str:
    cores = os.cpu_count()
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {cores} cores, {mem_kb / 1024**2:.0f} GiB, Python {platform.python_version()}"
