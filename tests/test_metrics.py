"""``/metrics``: the Prometheus exposition an operator scrapes, and the Grafana dashboard built on it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from backend.clips.models import AnalysisWorker, Clip
from tests.conftest import client_for
from tests.factories import CameraFactory

TOKEN = "metrics-token-for-the-tests-0123456789"
DASHBOARD = Path(__file__).resolve().parents[1] / "docker" / "grafana" / "sightline.json"


@pytest.fixture
def metrics_on(settings):
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"METRICS_TOKEN": TOKEN})


def scrape() -> dict[str, list]:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:300]
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    matching = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert matching, f"{name}{labels} not exposed; have {sorted(samples)[:80]}"
    return sum(matching)


def test_metrics_are_off_without_a_token_and_need_it_when_on(db, settings):
    assert Client().get("/metrics").status_code == 404
    settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={"METRICS_TOKEN": TOKEN})
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token-0123456789").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_the_exposition_holds_what_an_operator_watches(metrics_on, personas, cameras, footage_h264):
    from tests.api.test_admission import waiting_upload

    vault = cameras[1]
    gate = CameraFactory(name="Gate", stream_address="rtsp://gate.example/s")
    AnalysisWorker.objects.create(name="host-a:1", seen_at=timezone.now(), frames_per_s=12.5, frames_total=900)
    waiting_upload(vault, footage_h264, duration_s=100.0)
    segment = waiting_upload(gate, footage_h264, duration_s=4.0)
    Clip.objects.filter(pk=segment.pk).update(source=Clip.Source.RECORDING, priority=Clip.Priority.LIVE,
                                              status=Clip.Status.DONE, analysis_finished_at=timezone.now())
    client_for(personas["admin"]).get("/api/v1/search/", {"tag": "person"})

    samples = scrape()
    # Process-local: HTTP latency per route, search latency per backend.
    assert value(samples, "django_http_requests_latency_seconds_by_view_method_count", view="v1:search") >= 1
    assert value(samples, "sightline_search_seconds_count", backend="database") >= 1
    # From the database: the backlog, the workers, job latency, projections, cameras, media.
    assert value(samples, "sightline_analysis_queue_jobs", priority="upload") == 1
    assert value(samples, "sightline_analysis_queue_frames", priority="upload") == 200.0
    assert value(samples, "sightline_analysis_expected_wait_seconds", priority="upload") > 0
    assert value(samples, "sightline_analysis_worker_frames_per_second", worker="host-a:1") == 12.5
    assert value(samples, "sightline_analysis_worker_frames_total", worker="host-a:1") == 900
    assert value(samples, "sightline_analysis_job_latency_seconds", priority="live", quantile="0.95") >= 0
    assert value(samples, "sightline_segment_registration_delay_seconds", quantile="0.5") >= 0
    assert value(samples, "sightline_camera_state", camera="Gate", state="offline") == 1
    assert value(samples, "sightline_camera_state", camera="Gate", state="recording") == 0
    assert "sightline_projector_lag_events" in samples
    assert value(samples, "sightline_media_disk_bytes", kind="free") > 0
    assert value(samples, "sightline_media_footage_bytes", source="upload") > 0
    # Labels never hold an address or a secret.
    exposition = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    assert "rtsp://" not in exposition and TOKEN not in exposition


def test_the_dashboard_parses_and_uses_only_metrics_that_exist(metrics_on, personas, cameras):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    used = {m for e in exprs for m in re.findall(r"\b((?:sightline|django_http)_[a-z0-9_]+)\b", e)}
    # What a scrape exposes once a request has been served and a camera records.
    CameraFactory(name="Gate", stream_address="rtsp://gate.example/s")
    AnalysisWorker.objects.create(name="host-a:1", seen_at=timezone.now(), frames_per_s=10.0)
    client_for(personas["admin"]).get("/api/v1/search/")
    exposed = set(scrape())
    # Samples of families that may be empty at scrape time (no job finished recently, no segment yet) are
    # declared in the exposition's HELP/TYPE lines: take those names too.
    text = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    declared = set(re.findall(r"^# TYPE (\S+)", text, flags=re.M))
    missing = {m for m in used if m not in exposed and re.sub(r"_(bucket|count|sum|total)$", "", m) not in declared}
    assert not missing, f"the dashboard uses metrics that are not exposed: {sorted(missing)}"
