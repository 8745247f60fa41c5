#!/usr/bin/env python3
"""Container health checks of Sightline's image (installed as ``sightline-healthcheck``; see compose.yaml).

- ``sightline-healthcheck http /readyz [PORT]``: GET that path from the web process in this container (port
  8000 unless given); exit 0 on a 2xx answer. The request names the first of ``SIGHTLINE_ALLOWED_HOSTS``
  as its host, since Django refuses any other; the health paths are exempt from the HTTPS redirect
  (settings.py).
- ``sightline-healthcheck process run_recorder``: exit 0 while a process of this container, other than this
  check and the container's init, has the word as an argument of its command line (for the recorder and the
  projector, which serve nothing a check could ask; a hung process passes this check).

Standard library only, no Django: a check must be cheap and must not need the settings or the secrets.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path


def host_header(allowed_hosts: str) -> str:
    """The first allowed host, as a Host header Django accepts (``.example.org`` allows ``example.org``)."""
    first = allowed_hosts.split(",")[0].strip().lstrip(".")
    return first if first and first != "*" else "localhost"


def check_http(path: str, port: int = 8000, timeout_s: float = 4.0) -> bool:
    host = host_header(os.environ.get("SIGHTLINE_ALLOWED_HOSTS", "localhost"))
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (a fixed http URL)
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


#: Inits that run the command as their child (compose's ``init: true``): their command line names it too.
INITS = {b"docker-init", b"tini"}


def check_process(word: str, proc: Path = Path("/proc")) -> bool:
    own = {os.getpid(), os.getppid()}
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # the process ended meanwhile
            continue
        if argv and Path(argv[0].decode(errors="replace")).name.encode() in INITS:
            continue
        if word.encode() in argv:
            return True
    return False


def main(argv: list[str]) -> int:
    if len(argv) in (3, 4) and argv[1] == "http":
        port = int(argv[3]) if len(argv) == 4 else 8000
        return 0 if check_http(argv[2], port=port) else 1
    if len(argv) == 3 and argv[1] == "process":
        return 0 if check_process(argv[2]) else 1
    print("usage: sightline-healthcheck http PATH [PORT] | process WORD", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
