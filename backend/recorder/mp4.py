"""Repairing a fragmented MP4 that a crash cut short: keep its complete top-level boxes, drop the torn tail.

A fragmented MP4 is ``ftyp``, ``moov``, then ``moof`` + ``mdat`` pairs, one per fragment, written whole.
A recorder killed while writing a fragment leaves that fragment torn: its box says it is longer than what
is on disk, and a decoder fails on its last frame. Cutting the file after the last complete fragment
leaves a file that plays, start to end, up to that fragment.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

_HEADER = struct.Struct(">I4s")


def complete_length(path: Path) -> int:
    """Bytes of ``path`` that hold complete top-level boxes, ending with a complete fragment's ``mdat``."""
    size = path.stat().st_size
    good = 0
    offset = 0
    with path.open("rb") as fh:
        while offset + _HEADER.size <= size:
            fh.seek(offset)
            length, kind = _HEADER.unpack(fh.read(_HEADER.size))
            if length == 1:  # a 64-bit size follows
                raw = fh.read(8)
                if len(raw) < 8:
                    break
                length = struct.unpack(">Q", raw)[0]
            elif length == 0:  # "to the end of the file": only ever the last box
                length = size - offset
            if length < _HEADER.size or offset + length > size:
                break  # the torn box
            offset += length
            if kind in (b"mdat", b"moov", b"mfra"):
                good = offset  # a fragment (or the header, or the index) ends here
    return good


def drop_torn_tail(path: Path) -> int:
    """Truncate ``path`` after its last complete fragment; return the bytes dropped (0: it was whole)."""
    keep = complete_length(path)
    dropped = path.stat().st_size - keep
    if dropped:
        with path.open("r+b") as fh:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
    return dropped
