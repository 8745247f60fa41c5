"""Live before backlog: priorities, per-camera order and fairness, and a long analysis that serves live segments
between its batches, with the real detector on real footage."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from analysis import tasks
from backend.clips import jobs
from backend.clips.capacity import WorkerMeter
from backend.clips.models import AnalysisWorker, Clip, Priority
from backend.exports.models import Export, Masking
from tests.factories import CameraFactory


def register(camera, footage: Path, *, source=Clip.Source.UPLOAD, started_at=None) -> Clip:
    from analysis.decode import probe
    from backend.clips.services import register_clip, storage_name_for

    name = storage_name_for(camera, ".mp4")
    target = Path(django_settings.MEDIA_ROOT) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(footage, target)
    with transaction.atomic():
        return register_clip(camera=camera, stored_name=name, info=probe(target), queue=False, source=source,
                             started_at=started_at or timezone.now())


def fresh(clip: Clip) -> Clip:
    return Clip.objects.get(pk=clip.pk)


@pytest.fixture
def gate(db):
    return CameraFactory(name="Gate", stream_address="rtsp://gate.example/stream")


def test_recordings_are_live_uploads_are_uploads_and_a_rerun_goes_last(cameras, gate, footage_h264):
    upload = register(cameras[0], footage_h264)
    segment = register(gate, footage_h264, source=Clip.Source.RECORDING)
    assert (fresh(upload).priority, fresh(segment).priority) == (Priority.UPLOAD, Priority.LIVE)
    Clip.objects.filter(pk=upload.pk).update(status=Clip.Status.FAILED)
    jobs.requeue(upload.pk)
    assert fresh(upload).priority == Priority.REANALYSIS and fresh(upload).status == Clip.Status.QUEUED


def test_the_most_urgent_job_is_claimed_first_and_a_busy_camera_waits(cameras, gate, footage_h264):
    lobby, vault = cameras
    t0 = timezone.now() - timedelta(minutes=5)
    upload = register(lobby, footage_h264)
    gate_1 = register(gate, footage_h264, source=Clip.Source.RECORDING, started_at=t0)
    gate_2 = register(gate, footage_h264, source=Clip.Source.RECORDING, started_at=t0 + timedelta(seconds=8))
    door = CameraFactory(name="Door", stream_address="rtsp://door.example/stream")
    door_1 = register(door, footage_h264, source=Clip.Source.RECORDING, started_at=t0)
    rerun = register(vault, footage_h264)
    Clip.objects.filter(pk=rerun.pk).update(priority=Priority.REANALYSIS)

    # Nothing is more urgent than live.
    assert jobs.claim_more_urgent(Priority.LIVE) is None
    # Live first, oldest first; then the gate's next segment waits while its first is analysed: the door's goes.
    assert jobs.claim_more_urgent(Priority.REANALYSIS) == gate_1.pk
    assert jobs.claim_more_urgent(Priority.REANALYSIS) == door_1.pk
    assert jobs.claim_more_urgent(Priority.REANALYSIS, up_to=Priority.LIVE) is None
    # Uploads before a re-run; a re-run only when asked for less urgent than it.
    assert jobs.claim_more_urgent(Priority.REANALYSIS) == upload.pk
    assert jobs.claim_more_urgent(Priority.REANALYSIS) is None
    assert fresh(gate_2).status == Clip.Status.QUEUED and fresh(rerun).status == Clip.Status.QUEUED
    # The gate's first segment done: its second is next in line.
    Clip.objects.filter(pk=gate_1.pk).update(status=Clip.Status.DONE)
    assert jobs.claim_next_segment(gate_1.pk) == gate_2.pk


def test_uploads_of_a_camera_not_in_analysis_go_before_a_busy_cameras(cameras, footage_h264):
    lobby, vault = cameras
    lobby_1 = register(lobby, footage_h264)
    lobby_2 = register(lobby, footage_h264)
    vault_1 = register(vault, footage_h264)
    assert jobs.claim(lobby_1.pk) is jobs.Claim.CLAIMED
    # The lobby's second upload is older than the vault's, but the lobby is already being served.
    assert jobs.claim_more_urgent(Priority.REANALYSIS) == vault_1.pk
    assert jobs.claim_more_urgent(Priority.REANALYSIS) == lobby_2.pk


def test_a_task_serves_waiting_live_segments_before_its_upload(cameras, gate, footage_h264):
    upload = register(cameras[0], footage_h264)
    segment = register(gate, footage_h264, source=Clip.Source.RECORDING)
    assert tasks.analyse(upload.pk) == Clip.Status.DONE
    upload, segment = fresh(upload), fresh(segment)
    assert segment.status == Clip.Status.DONE and segment.detections > 0
    assert segment.analysis_finished_at <= upload.analysis_started_at


def test_a_long_analysis_serves_a_live_segment_between_its_batches(cameras, gate, footage_h264, settings,
                                                                 monkeypatch):
    """The segment arrives while the upload is being analysed: it is analysed before the upload ends."""
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"ANALYSIS_PREEMPT_CHECK_S": 0.0,
                                                               "ANALYSIS_BATCH_SIZE": 2})
    upload = register(cameras[0], footage_h264)
    arrived: list[Clip] = []
    beat = jobs.beat

    def beat_and_a_segment_arrives(clip_id, **progress):
        beat(clip_id, **progress)
        if clip_id == upload.pk and not arrived:
            arrived.append(register(gate, footage_h264, source=Clip.Source.RECORDING))

    monkeypatch.setattr(jobs, "beat", beat_and_a_segment_arrives)
    assert tasks.analyse(upload.pk) == Clip.Status.DONE
    upload, segment = fresh(upload), fresh(arrived[0])
    assert segment.status == Clip.Status.DONE and segment.detections > 0
    assert upload.analysis_started_at < segment.analysis_started_at
    assert segment.analysis_finished_at < upload.analysis_finished_at
    # The upload was not disturbed: it analysed all its frames, once.
    assert upload.frames_analysed == segment.frames_analysed and upload.attempts == 1


def test_a_segment_behind_one_in_analysis_is_left_to_that_worker(gate, footage_h264):
    t0 = timezone.now() - timedelta(minutes=1)
    first = register(gate, footage_h264, source=Clip.Source.RECORDING, started_at=t0)
    second = register(gate, footage_h264, source=Clip.Source.RECORDING, started_at=t0 + timedelta(seconds=8))
    Clip.objects.filter(pk=second.pk).update(dispatched_at=timezone.now())
    assert jobs.claim(first.pk) is jobs.Claim.CLAIMED  # another worker is on the first segment
    assert tasks.analyse(second.pk) == "deferred"
    # Left queued and marked undispatched: if that worker dies, the sweep sends it again.
    assert fresh(second).status == Clip.Status.QUEUED and fresh(second).dispatched_at is None
    # That worker finishes the first segment and goes on with the second, which resumes its tracks.
    assert tasks._run_claimed(first.pk, Priority.LIVE) == Clip.Status.DONE
    tasks._follow_camera(first.pk)
    second = fresh(second)
    assert second.status == Clip.Status.DONE and second.attempts == 1
    assert fresh(first).tracker_state is None  # resumed by the second, then dropped


def test_the_worker_meter_writes_its_measured_rate(db, monkeypatch):
    now = [100.0]
    monkeypatch.setattr("backend.clips.capacity.time.monotonic", lambda: now[0])
    meter = WorkerMeter("host-a:1")
    meter.begin()
    now[0] = 100.5
    meter.tick(4, "upload")  # 0.5 s: below the window, nothing written
    assert not AnalysisWorker.objects.exists()
    now[0] = 101.0
    meter.tick(4, "upload")  # 1.0 s, 8 frames
    now[0] = 102.5
    meter.tick(12, "upload")  # 2.5 s, 20 frames: 8 frames/s
    row = AnalysisWorker.objects.get(name="host-a:1")
    assert row.frames_per_s == pytest.approx(8.0) and row.frames_total == 20 and row.current_priority == "upload"
    now[0] = 104.0
    meter.tick(6, "live")  # 1.5 s: below the window
    meter.idle()
    assert AnalysisWorker.objects.get(name="host-a:1").current_priority == ""


def _export(camera, clip: Clip, masking: str) -> Export:
    """An export of the first two seconds of ``clip``, queued (its row only: as if its message were still on
    the way, or behind the upload in the worker's queue)."""
    return Export.objects.create(camera=camera, start=clip.started_at, end=clip.started_at + timedelta(seconds=2),
                                 masking=masking)


def test_a_long_analysis_renders_a_waiting_export_between_its_batches(cameras, gate, footage_h264, settings,
                                                                     monkeypatch):
    """An officer's export asked for while an upload is analysed is rendered before the upload ends."""
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"ANALYSIS_PREEMPT_CHECK_S": 0.0,
                                                               "ANALYSIS_BATCH_SIZE": 2})
    recorded = register(gate, footage_h264, source=Clip.Source.RECORDING)
    assert tasks.analyse(recorded.pk) == Clip.Status.DONE  # its masks are known
    upload = register(cameras[0], footage_h264)
    asked: list[Export] = []
    beat = jobs.beat

    def beat_and_an_export_is_asked_for(clip_id, **progress):
        beat(clip_id, **progress)
        if clip_id == upload.pk and not asked:
            asked.append(_export(gate, fresh(recorded), Masking.FACES))

    monkeypatch.setattr(jobs, "beat", beat_and_an_export_is_asked_for)
    assert tasks.analyse(upload.pk) == Clip.Status.DONE
    upload, export = fresh(upload), Export.objects.get(pk=asked[0].pk)
    assert export.status == Export.Status.DONE, export.error
    assert upload.analysis_started_at < export.started_at
    assert export.finished_at < upload.analysis_finished_at
    assert upload.attempts == 1 and upload.frames_analysed > 0


def test_an_export_of_footage_still_in_analysis_is_left_waiting(cameras, footage_h264, settings, monkeypatch):
    """Its masks are not known until the upload is analysed: the worker passes over it (no render, no
    attempt counted, no loop) and finishes the upload; the export's own task renders it afterwards."""
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"ANALYSIS_PREEMPT_CHECK_S": 0.0,
                                                               "ANALYSIS_BATCH_SIZE": 2})
    upload = register(cameras[0], footage_h264)
    asked: list[Export] = []
    beat = jobs.beat

    def beat_and_an_export_is_asked_for(clip_id, **progress):
        beat(clip_id, **progress)
        if clip_id == upload.pk and not asked:
            asked.append(_export(cameras[0], fresh(upload), Masking.FACES))

    monkeypatch.setattr(jobs, "beat", beat_and_an_export_is_asked_for)
    assert tasks.analyse(upload.pk) == Clip.Status.DONE
    export = Export.objects.get(pk=asked[0].pk)
    assert export.status == Export.Status.QUEUED and export.attempts == 0
    # Once the upload is analysed it is ready: the next worker that looks serves it.
    assert tasks.serve_more_urgent(Priority.UPLOAD) == 1
    assert Export.objects.get(pk=export.pk).status == Export.Status.DONE
