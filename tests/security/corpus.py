"""A corpus of hostile and broken uploads, generated from a real clip: at least 100 files, each named by
what it tries. Deterministic (seeded), so a failure names the same file every run."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import av


def _png(width: int, height: int) -> bytes:
    """A valid grayscale PNG of ``width`` × ``height`` zero pixels, compressed without ever holding them."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def _remux(source: Path, fmt: str, *, audio_only: bool = False, packets: int | None = None) -> bytes:
    out = io.BytesIO()
    with av.open(str(source)) as src, av.open(out, "w", format=fmt) as dst:
        if audio_only:
            stream = dst.add_stream("aac", rate=8000)
            frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
            for plane in frame.planes:
                plane.update(b"\0" * plane.buffer_size)
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                dst.mux(packet)
            for packet in stream.encode(None):
                dst.mux(packet)
            return out.getvalue()
        in_stream = src.streams.video[0]
        out_stream = dst.add_stream_from_template(in_stream)
        dst.start_encoding()  # the header, even when no packet follows
        for n, packet in enumerate(src.demux(in_stream)):
            if packet.dts is None or (packets is not None and n >= packets):
                continue
            packet.stream = out_stream
            dst.mux(packet)
    return out.getvalue()


def _encoded(codec: str, fmt: str, width: int, height: int, frames: int = 2) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as dst:
        stream = dst.add_stream(codec, rate=5)
        stream.width, stream.height = width, height
        pix_fmt = {"mjpeg": "yuvj420p", "gif": "rgb8"}.get(codec, "yuv420p")
        stream.pix_fmt = pix_fmt
        for _ in range(frames):
            frame = av.VideoFrame(width, height, pix_fmt)
            for packet in stream.encode(frame):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return out.getvalue()


def corpus(clip: Path, victim: Path) -> Iterator[tuple[str, str, bytes]]:
    """(what it is, file name the uploader gives, content). ``victim`` is a server-side file to try to read."""
    rng = random.Random(20261202)
    real = clip.read_bytes()
    # Playlists and concat lists that would make the server read other files or addresses.
    for n, target in enumerate([str(victim), f"file://{victim}", "/etc/passwd", "http://169.254.169.254/latest/",
                                "rtsp://127.0.0.1:6379/", f"concat:{victim}|{victim}"]):
        yield f"hls playlist naming {target}", f"p{n}.m3u8", (
            f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{target}\n#EXT-X-ENDLIST\n".encode())
        yield f"ffconcat list naming {target}", f"c{n}.mp4", f"ffconcat version 1.0\nfile '{target}'\n".encode()
    yield "m3u8 disguised as mp4", "clip.mp4", f"#EXTM3U\n#EXTINF:1,\n{victim}\n".encode()
    # Images, documents, markup.
    yield "pixel bomb: 16000x16000 PNG", "bomb.png", _png(16000, 16000)
    yield "pixel bomb named .mp4", "bomb.mp4", _png(16000, 16000)
    yield "small PNG", "x.png", _png(64, 64)
    yield "GIF with a script in a comment, named .html", "x.html", (
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00!\xfe\x1c<script>alert(1)</script>\x00,\x00\x00\x00\x00\x01\x00"
        b"\x01\x00\x00\x02\x00;")
    yield "HTML page", "x.html", b"<html><script>alert(document.cookie)</script></html>"
    yield "SVG with script", "x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    yield "PDF", "x.pdf", b"%PDF-1.7\n" + b"0" * 2000
    yield "ZIP", "x.zip", b"PK\x03\x04" + b"\0" * 2000
    yield "JPEG header only", "x.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\0" * 100
    yield "ELF binary", "x.mp4", b"\x7fELF" + b"\0" * 4000
    yield "random bytes", "noise.mp4", rng.randbytes(50_000)
    yield "one byte", "one.mp4", b"\0"
    yield "text", "x.mp4", b"hello\n" * 100
    # Polyglots.
    yield "GIF header then a real MP4", "poly.mp4", b"GIF89a" + real
    yield "real MP4 then an HTML page", "poly.html", real + b"<html><script>alert(1)</script></html>"
    yield "HTML page then a real MP4", "poly.mp4", b"<html><script>alert(1)</script></html>" + real
    # Wrong or empty streams.
    yield "audio only", "a.mp4", _remux(clip, "mp4", audio_only=True)
    yield "MP4 header and no samples", "empty.mp4", _remux(clip, "mp4", packets=0)
    yield "MKV with no samples", "empty.mkv", _remux(clip, "matroska", packets=0)
    yield "huge dimensions: 8200x64 MJPEG in AVI", "wide.avi", _encoded("mjpeg", "avi", 8200, 64)
    yield "huge dimensions: 6000x6000 MJPEG in MKV", "big.mkv", _encoded("mjpeg", "matroska", 6000, 6000, 1)
    yield "GIF animation", "x.gif", _encoded("gif", "gif", 32, 32)
    # The real clip in other allowed containers (accepted), under hostile names.
    yield "real clip as MKV", "x.mkv", _remux(clip, "matroska")
    yield "real clip as MPEG-TS", "x.ts", _remux(clip, "mpegts")
    yield "real clip named .html", "evil.html", real
    yield "real clip named .svg", "evil.svg", real
    # Truncations and mutations of the real clip.
    for fraction in (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99):
        yield f"truncated at {fraction:.0%}", f"t{fraction}.mp4", real[: int(len(real) * fraction)]
    for n in range(30):
        data = bytearray(real)
        for _ in range(rng.choice([1, 8, 64, 512])):
            data[rng.randrange(len(data))] = rng.randrange(256)
        yield f"bytes flipped #{n}", f"flip{n}.mp4", bytes(data)
    for n in range(10):
        data = bytearray(real)
        start = rng.randrange(len(data) - 4096)
        data[start:start + 4096] = b"\0" * 4096
        yield f"4 KiB zeroed #{n}", f"zero{n}.mp4", bytes(data)
    for n in range(10):
        blocks = [real[i:i + 16384] for i in range(0, len(real), 16384)]
        rng.shuffle(blocks)
        yield f"16 KiB blocks shuffled #{n}", f"shuffle{n}.mp4", b"".join(blocks)
    for n in range(10):
        cut = rng.randrange(64, 4096)
        yield f"first {cut} bytes removed #{n}", f"head{n}.mp4", real[cut:]
    for n in range(10):
        yield f"box header lengths corrupted #{n}", f"box{n}.mp4", _corrupt_boxes(real, rng)


def _corrupt_boxes(data: bytes, rng: random.Random) -> bytes:
    """Overwrite the 32-bit size of some top-level MP4 boxes with wrong values."""
    out = bytearray(data)
    offset = 0
    while offset + 8 <= len(out):
        size = struct.unpack(">I", out[offset:offset + 4])[0]
        if rng.random() < 0.5:
            out[offset:offset + 4] = struct.pack(">I", rng.choice([0, 1, 7, 0xFFFFFFFF, size * 3 + 1]))
        if size < 8:
            break
        offset += size
    return bytes(out)
