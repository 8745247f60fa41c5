from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from backend.accounts.api import MeView, TokenView
from backend.accounts.session_api import SessionView
from backend.analyze.api import AnalyzeViewSet
from backend.audit.api import AuditListView
from backend.cameras.api import CameraViewSet
from backend.clips.api import ClipViewSet
from backend.clips.queue_api import AnalysisQueueView
from backend.eventlog.api import EventListView
from backend.exports.api import CaseViewSet, ExportViewSet
from backend.recorder.live_api import LivePlaylistView, LiveSegmentView
from backend.sightline.health import healthz, readyz
from backend.sightline.metrics import metrics_view
from backend.sightline.spa import ROUTE_PATTERN, spa_view
from search.api import SearchView, SightingDetailView, SightingThumbnailView
from search.similar_api import SimilarSightingsView
from search.track_api import SightingTrackView

router = DefaultRouter(trailing_slash=True)
router.register("cameras", CameraViewSet, basename="camera")
router.register("clips", ClipViewSet, basename="clip")
router.register("exports", ExportViewSet, basename="export")
router.register("cases", CaseViewSet, basename="case")
router.register("analyze", AnalyzeViewSet, basename="analyze")

api_v1 = [
    path("auth/token/", TokenView.as_view(), name="token"),
    path("auth/session/", SessionView.as_view(), name="session"),
    path("me/", MeView.as_view(), name="me"),
    path("search/", SearchView.as_view(), name="search"),
    path("sightings/<int:sighting_id>/", SightingDetailView.as_view(), name="sighting"),
    path("sightings/<int:sighting_id>/thumbnail/", SightingThumbnailView.as_view(), name="sighting-thumbnail"),
    path("sightings/<int:sighting_id>/track/", SightingTrackView.as_view(), name="sighting-track"),
    path("sightings/<int:sighting_id>/similar/", SimilarSightingsView.as_view(), name="sighting-similar"),
    path("events/", EventListView.as_view(), name="events"),
    path("audit/", AuditListView.as_view(), name="audit"),
    path("analysis/queue/", AnalysisQueueView.as_view(), name="analysis-queue"),
    path("cameras/<int:pk>/live/index.m3u8", LivePlaylistView.as_view(), name="camera-live-playlist"),
    path("cameras/<int:pk>/live/<str:name>", LiveSegmentView.as_view(), name="camera-live-segment"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("", spa_view, name="home"),
    re_path(ROUTE_PATTERN, spa_view, name="spa"),
]
