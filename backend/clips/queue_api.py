"""``GET /api/v1/analysis/queue/``: the analysis backlog per priority, the workers, and whether uploads are
accepted now (``capacity``).

Any signed-in user may read it: it is counts and rates only, never a clip, a camera or a file name. Worker
names (host and process id) are shown to admins only.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.roles import Role, role_of

from . import capacity


class PriorityLoadSerializer(serializers.Serializer):
    priority = serializers.ChoiceField(choices=["live", "synchronous", "upload", "re-analysis"])
    jobs = serializers.IntegerField(help_text="Jobs waiting or being analysed.")
    analysing = serializers.IntegerField()
    frames = serializers.FloatField(help_text="Frames still to analyse.")
    expected_wait_s = serializers.FloatField(
        allow_null=True, help_text="How long a new job of this priority waits before it starts; null: "
                                   "indefinitely (the live cameras use all the capacity).")


class WorkerSerializer(serializers.Serializer):
    name = serializers.CharField(allow_null=True, help_text="host:pid; admins only (null for others).")
    frames_per_s = serializers.FloatField(help_text="Measured while analysing; 0 until it has analysed.")
    busy = serializers.BooleanField()
    current_priority = serializers.CharField(allow_blank=True)
    frames_total = serializers.IntegerField()
    seen_at = serializers.DateTimeField()


class AdmissionSerializer(serializers.Serializer):
    accepting_uploads = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    detail = serializers.CharField(allow_null=True)
    retry_after_s = serializers.IntegerField(allow_null=True)
    max_delay_s = serializers.FloatField(help_text="ANALYSIS_MAX_DELAY_S; 0: uploads never refused for the backlog.")


class RendersSerializer(serializers.Serializer):
    exports = serializers.IntegerField(help_text="Exports queued or rendering.")
    renditions = serializers.IntegerField(help_text="Masked renditions (for playback) queued or rendering.")
    rendering = serializers.IntegerField(help_text="Of those, being rendered now.")


class QueueSerializer(serializers.Serializer):
    priorities = PriorityLoadSerializer(many=True)
    workers = WorkerSerializer(many=True)
    capacity_frames_per_s = serializers.FloatField()
    capacity_measured = serializers.BooleanField(
        help_text="False: some workers have not measured their rate yet and count for ANALYSIS_ASSUMED_FPS.")
    live_frames_per_s = serializers.FloatField(help_text="What the recording cameras need, served first.")
    admission = AdmissionSerializer()
    renders = RendersSerializer(help_text="Render jobs, served by the same workers after live segments and "
                                          "synchronous requests, before uploads.")


def _renders() -> dict[str, int]:
    from backend.exports.models import Export, RenderJob, Rendition

    active = (RenderJob.Status.QUEUED, RenderJob.Status.RENDERING)
    counts = {name: model.objects.filter(status__in=active).aggregate(  # type: ignore[attr-defined]
        n=Count("pk"), rendering=Count("pk", filter=Q(status=RenderJob.Status.RENDERING)))
        for name, model in (("exports", Export), ("renditions", Rendition))}
    return {"exports": counts["exports"]["n"], "renditions": counts["renditions"]["n"],
            "rendering": counts["exports"]["rendering"] + counts["renditions"]["rendering"]}


def queue_body(state: capacity.QueueState, *, names: bool) -> dict[str, object]:
    refusal = capacity.admit_backlog(state)
    return {
        "priorities": [{"priority": p.priority, "jobs": p.jobs, "analysing": p.analysing, "frames": p.frames,
                        "expected_wait_s": p.expected_wait_s} for p in state.priorities],
        "workers": [{"name": w.name if names else None, "frames_per_s": round(w.frames_per_s, 2),
                     "busy": bool(w.current_priority), "current_priority": w.current_priority,
                     "frames_total": w.frames_total, "seen_at": w.seen_at} for w in state.workers],
        "capacity_frames_per_s": state.capacity_fps,
        "capacity_measured": state.measured,
        "live_frames_per_s": state.live_fps,
        "admission": {"accepting_uploads": refusal is None, "reason": refusal.reason if refusal else None,
                      "detail": refusal.detail if refusal else None,
                      "retry_after_s": refusal.retry_after_s if refusal else None,
                      "max_delay_s": settings.SIGHTLINE.ANALYSIS_MAX_DELAY_S},
        "renders": _renders(),
    }


class AnalysisQueueView(APIView):
    @extend_schema(responses={200: QueueSerializer}, operation_id="analysis_queue")
    def get(self, request: Request) -> Response:
        body = queue_body(capacity.queue_state(), names=role_of(request.user) >= Role.ADMIN)
        return Response(QueueSerializer(body).data)
