#!/usr/bin/python3
"""A real RTSP server (GStreamer's gst-rtsp-server) for the recorder's tests, benchmark and demo.

Run it with the SYSTEM Python (``/usr/bin/python3``), which has PyGObject and the GStreamer bindings; the
project's virtual environment does not. It serves an H.264 MP4 file in an endless loop at ``--mount`` on
``--port`` and accepts DIGEST authentication only, as real cameras do: a client without the right user name
and password gets 401 and no media.

How the loop works: the file's H.264 access units are read once into memory (qtdemux ! h264parse !
appsink) and pushed into each client's pipeline through an ``appsrc`` with timestamps that keep increasing
across loops. The RTSP sinks synchronise on those timestamps, so the client receives the video in real
time. ``multifilesrc loop=true`` would be simpler but restarts timestamps at zero on every loop, which a
client (FFmpeg) takes for a broken stream.

``--stall-after N`` stops pushing video N seconds after a client starts playing while keeping the RTSP
session and its TCP connection open: what a camera with a hung encoder does.

Prints ``READY`` on stdout once it listens. It must never print the password.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer  # noqa: E402

_ROLE = "camera-viewer"


class AccessUnit:
    __slots__ = ("data", "delta", "dts", "duration", "pts")

    def __init__(self, data: bytes, pts: int, dts: int, duration: int, delta: bool) -> None:
        self.data, self.pts, self.dts, self.duration, self.delta = data, pts, dts, duration, delta


def load_access_units(path: str) -> tuple[list[AccessUnit], str, int]:
    """Read every H.264 access unit of ``path`` (byte-stream, SPS/PPS before each key frame)."""
    pipeline = Gst.parse_launch(
        f'filesrc location="{path}" ! qtdemux ! h264parse config-interval=-1 ! '
        "video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    units: list[AccessUnit] = []
    caps = ""
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        if not caps:
            caps = sample.get_caps().to_string()
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        if not ok:
            continue
        data = bytes(info.data)
        buf.unmap(info)
        pts = buf.pts if buf.pts != Gst.CLOCK_TIME_NONE else 0
        dts = buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else pts
        units.append(AccessUnit(data, pts, dts, buf.duration if buf.duration != Gst.CLOCK_TIME_NONE else 0,
                                bool(buf.get_flags() & Gst.BufferFlags.DELTA_UNIT)))
    pipeline.set_state(Gst.State.NULL)
    if not units:
        raise SystemExit(f"{path}: no H.264 video found (is it an MP4 with an H.264 track?)")
    return units, caps, _loop_length(units)


def _loop_length(units: list[AccessUnit]) -> int:
    step = units[1].dts - units[0].dts if len(units) > 1 else 40_000_000
    return max(u.pts for u in units) - min(u.dts for u in units) + max(step, 1)


class LoopFactory(GstRtspServer.RTSPMediaFactory):
    """One pipeline per client (not shared), fed from the access units in memory."""

    def __init__(self, units: list[AccessUnit], caps: str, loop_ns: int, stall_after: float | None) -> None:
        super().__init__()
        self.units, self.caps, self.loop_ns, self.stall_after = units, caps, loop_ns, stall_after
        self.set_shared(False)

    def do_create_element(self, url: GstRtspServer.RTSPUrl) -> Gst.Element:
        # config-interval=-1: SPS/PPS go out with every key frame, so a client can start on any of them.
        return Gst.parse_launch(
            f'appsrc name=src is-live=true format=time caps="{self.caps}" ! '
            "h264parse ! rtph264pay name=pay0 pt=96 aggregate-mode=zero-latency"
        )

    def do_configure(self, media: GstRtspServer.RTSPMedia) -> None:
        element = media.get_element()
        src: GstApp.AppSrc = element.get_child_by_name("src")
        state = {"index": 0, "loop": 0, "started": None}
        origin = self.units[0].dts

        def need_data(appsrc: GstApp.AppSrc, _length: int) -> None:
            if state["started"] is None:
                state["started"] = time.monotonic()
            if self.stall_after is not None and time.monotonic() - state["started"] > self.stall_after:
                return  # stalled: never push again, keep the session open
            unit = self.units[state["index"]]
            shift = state["loop"] * self.loop_ns - origin
            buf = Gst.Buffer.new_wrapped(unit.data)
            buf.pts = unit.pts + shift
            buf.dts = unit.dts + shift
            buf.duration = unit.duration
            if unit.delta:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            appsrc.emit("push-buffer", buf)
            state["index"] += 1
            if state["index"] == len(self.units):
                state["index"] = 0
                state["loop"] += 1

        src.connect("need-data", need_data)


def build_server(args: argparse.Namespace) -> GstRtspServer.RTSPServer:
    units, caps, loop_ns = load_access_units(args.file)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))

    auth = GstRtspServer.RTSPAuth()
    # Digest only: a client that tries Basic (which sends the password in clear) is refused.
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, _ROLE)
    auth.add_digest(args.user, args.password, token)
    server.set_auth(auth)

    factory = LoopFactory(units, caps, loop_ns, args.stall_after)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role(_ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    permissions.add_permission_for_role(_ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    factory.set_permissions(permissions)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    server.get_mount_points().add_factory(args.mount, factory)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--mount", default="/stream")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--file", required=True, help="an MP4 with an H.264 video track")
    parser.add_argument("--stall-after", type=float, default=None,
                        help="stop sending video this many seconds after a client starts playing")
    args = parser.parse_args(argv)
    if not args.mount.startswith("/"):
        parser.error("--mount must start with /")

    Gst.init(None)
    server = build_server(args)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"ERROR: cannot listen on {args.address}:{args.port}", file=sys.stderr, flush=True)
        return 1

    def stop(*_: object) -> None:
        loop.quit()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # GLib's loop does not wake for Python signal handlers by itself; a short timer lets them run.
    GLib.timeout_add(200, lambda: True)
    threading.current_thread().name = "rtsp-main"
    print("READY", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
