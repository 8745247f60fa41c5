"""Typed settings read from the environment.

Every knob an operator may turn lives here, parsed and validated by pydantic-settings so that a bad value
stops start-up with a message naming the variable, instead of failing later in a worker. Secrets can be
given as ``NAME_FILE`` (a path whose content is the value), as container orchestrators mount them.

This module must never log or print a value: several of them are secrets.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Settings that hold secrets: they may be supplied through ``<NAME>_FILE``.
SECRET_FIELDS = ("SECRET_KEY", "CAMERA_CREDENTIALS_KEY", "DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL",
                 "ELASTICSEARCH_PASSWORD", "METRICS_TOKEN")


class _FileSecretsSource(PydanticBaseSettingsSource):
    """Reads ``NAME_FILE`` for each secret field, so secrets need not sit in the process environment."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in SECRET_FIELDS:
            path = os.environ.get(f"SIGHTLINE_{name}_FILE") or os.environ.get(f"{name}_FILE")
            if path:
                try:
                    values[name] = Path(path).read_text().strip()
                except OSError as exc:
                    raise ValueError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
        return values


def _env(name: str, *, bare: bool = False) -> AliasChoices:
    """``SIGHTLINE_<name>``, and where ``bare`` the conventional unprefixed name too (prefixed wins)."""
    return AliasChoices(f"SIGHTLINE_{name}", name) if bare else AliasChoices(f"SIGHTLINE_{name}")


#: Search backends by the short name an operator may give in ``SIGHTLINE_SEARCH_BACKEND``.
SEARCH_BACKENDS = {
    "database": "search.backends.database.DatabaseSearchBackend",
    "elasticsearch": "search.backends.elasticsearch.ElasticsearchSearchBackend",
}


class SightlineSettings(BaseSettings):
    """All environment-driven configuration, read from ``SIGHTLINE_*`` variables.

    Django's settings hold this object itself as ``settings.SIGHTLINE`` (typed, frozen): code reads
    ``settings.SIGHTLINE.DETECTOR``, never a string key. Secrets are left out of its ``repr`` so that an
    error page or a log line that prints the settings shows none of them. Tests change a value with
    ``settings.SIGHTLINE = settings.SIGHTLINE.model_copy(update={...})``.
    """

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", populate_by_name=True, frozen=True)

    DEBUG: bool = Field(False, validation_alias=_env("DEBUG"))
    #: Log records as one JSON object a line (``json``) or as text for a terminal (``text``); empty: ``json``,
    #: or ``text`` when ``DEBUG`` is on.
    LOG_FORMAT: Literal["", "json", "text"] = Field("", validation_alias=_env("LOG_FORMAT"))
    SECRET_KEY: str = Field("", validation_alias=_env("SECRET_KEY"), repr=False)
    ALLOWED_HOSTS: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "[::1]"], validation_alias=_env("ALLOWED_HOSTS"))
    DATA_DIR: Path = Field(REPO_ROOT / "var", validation_alias=_env("DATA_DIR"))
    DATABASE_URL: str | None = Field(None, validation_alias=_env("DATABASE_URL", bare=True), repr=False)
    REDIS_URL: str | None = Field(None, validation_alias=_env("REDIS_URL", bare=True), repr=False)
    ELASTICSEARCH_URL: str | None = Field(None, validation_alias=_env("ELASTICSEARCH_URL", bare=True), repr=False)
    ELASTICSEARCH_USERNAME: str | None = Field(None, validation_alias=_env("ELASTICSEARCH_USERNAME"))
    ELASTICSEARCH_PASSWORD: str | None = Field(None, validation_alias=_env("ELASTICSEARCH_PASSWORD"), repr=False)
    #: PEM file of the CA that signed the cluster's HTTPS certificate (a private CA); unset: the system's.
    ELASTICSEARCH_CA_CERTS: Path | None = Field(None, validation_alias=_env("ELASTICSEARCH_CA_CERTS"))
    #: Bearer token Prometheus sends to ``/metrics``; unset: the endpoint answers 404 (no metrics exposed).
    METRICS_TOKEN: str | None = Field(None, min_length=16, validation_alias=_env("METRICS_TOKEN"), repr=False)
    #: Replicas of every index Sightline creates (a cluster of N nodes can hold up to N - 1); indices that
    #: already exist keep theirs (change them with ``PUT <prefix>-*/_settings``).
    ELASTICSEARCH_REPLICAS: int = Field(0, ge=0, le=10, validation_alias=_env("ELASTICSEARCH_REPLICAS"))
    #: Every index, alias and template name starts with this, so deployments can share a cluster.
    ELASTICSEARCH_INDEX_PREFIX: str = Field("sightline", pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$",
                                            validation_alias=_env("ELASTICSEARCH_INDEX_PREFIX"))
    #: Dotted path of the search backend class, or ``database`` / ``elasticsearch``. Default:
    #: Elasticsearch when ``ELASTICSEARCH_URL`` is set, else the database.
    SEARCH_BACKEND: str = Field("", validation_alias=_env("SEARCH_BACKEND"))
    CAMERA_CREDENTIALS_KEY: str | None = Field(None, validation_alias=_env("CAMERA_CREDENTIALS_KEY"), repr=False)
    #: Whether camera addresses may point at this machine (loopback). Default: allowed in the embedded
    #: default (its test cameras run here), refused once ``DATABASE_URL`` names a database server.
    CAMERA_ALLOW_LOOPBACK: bool | None = Field(None, validation_alias=_env("CAMERA_ALLOW_LOOPBACK"))
    #: Comma-separated networks (CIDR) cameras may never be reached in, on top of the built-in rules.
    CAMERA_DENY_NETWORKS: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list, validation_alias=_env("CAMERA_DENY_NETWORKS"))
    #: An API token expires after this many hours without use (each use extends it, up to seven days).
    API_TOKEN_TTL_H: float = Field(12.0, gt=0, le=24 * 7, validation_alias=_env("API_TOKEN_TTL_H"))
    #: Token logins (``POST /api/v1/auth/token/``) allowed per client address, in DRF's rate syntax ("20/minute"),
    #: on top of the per-user lockout after failed ones.
    LOGIN_RATE: str = Field("20/minute", pattern=r"^\d+/(second|minute|hour|day)$", validation_alias=_env("LOGIN_RATE"))
    #: Deployed behind a TLS-terminating proxy that sets X-Forwarded-Proto: secure cookies, HSTS, redirects.
    BEHIND_TLS_PROXY: bool = Field(False, validation_alias=_env("BEHIND_TLS_PROXY"))
    #: Detections below this confidence are not stored (a search's minimum can only be higher).
    DETECTION_MIN_CONFIDENCE: float = Field(0.3, ge=0.01, le=1.0, validation_alias=_env("DETECTION_MIN_CONFIDENCE"))
    #: Detections from this confidence up to ``DETECTION_MIN_CONFIDENCE`` are kept only where they continue a
    #: track (the tracker's second, low-score round: a person half hidden keeps their track); none start one.
    TRACK_LOW_CONFIDENCE: float = Field(0.1, ge=0.01, le=1.0, validation_alias=_env("TRACK_LOW_CONFIDENCE"))
    #: How a frame becomes the detector's square input (``analysis.decode.INPUT_MODES``; measured in the
    #: README's "Answer quality").
    DETECTOR_INPUT: Literal["stretch", "letterbox"] = Field("stretch", validation_alias=_env("DETECTOR_INPUT"))
    DETECTOR: str = Field("centernet", validation_alias=_env("DETECTOR"))
    ANALYSIS_BATCH_SIZE: int = Field(4, ge=1, le=256, validation_alias=_env("ANALYSIS_BATCH_SIZE"))
    #: FFmpeg hardware device type analysis decodes on where it exists (``cuda``: NVDEC); empty: software.
    DECODE_HWACCEL: Literal["", "cuda", "qsv", "drm", "amf", "vaapi"] = Field(
        "", validation_alias=_env("DECODE_HWACCEL"))
    #: torch intra-op threads in a worker; 0 lets torch decide.
    TORCH_THREADS: int = Field(0, ge=0, le=256, validation_alias=_env("TORCH_THREADS"))
    #: Largest upload accepted (API and admin).
    MAX_UPLOAD_BYTES: int = Field(4 * 1024**3, ge=1024, validation_alias=_env("MAX_UPLOAD_BYTES"))
    #: Largest picture (width × height, and either side) and longest duration accepted, read from the
    #: headers before anything is decoded.
    MAX_VIDEO_PIXELS: int = Field(7680 * 4320, ge=64, validation_alias=_env("MAX_VIDEO_PIXELS"))
    MAX_VIDEO_SIDE: int = Field(8192, ge=16, validation_alias=_env("MAX_VIDEO_SIDE"))
    MAX_VIDEO_DURATION_S: float = Field(24 * 3600.0, gt=0, validation_alias=_env("MAX_VIDEO_DURATION_S"))
    #: Uploads are probed in a child process with this much address space and this long (wall and CPU).
    PROBE_MEMORY_BYTES: int = Field(512 * 1024**2, ge=128 * 1024**2, validation_alias=_env("PROBE_MEMORY_BYTES"))
    PROBE_TIMEOUT_S: float = Field(30.0, ge=1.0, le=600.0, validation_alias=_env("PROBE_TIMEOUT_S"))
    #: An analysis job is tried this many times (a worker killed mid-clip costs one) before it fails.
    ANALYSIS_MAX_ATTEMPTS: int = Field(3, ge=1, le=100, validation_alias=_env("ANALYSIS_MAX_ATTEMPTS"))
    #: A job whose worker wrote no progress for this long is taken to be dead and is tried again.
    ANALYSIS_HEARTBEAT_TIMEOUT_S: float = Field(120.0, ge=1.0, le=86_400.0,
                                                validation_alias=_env("ANALYSIS_HEARTBEAT_TIMEOUT_S"))
    #: A queued job whose message has not started after this long is sent again (a lost message).
    ANALYSIS_REDISPATCH_S: float = Field(300.0, ge=1.0, le=86_400.0, validation_alias=_env("ANALYSIS_REDISPATCH_S"))
    #: Hard limit of one analysis task; the broker's visibility timeout is kept above it.
    ANALYSIS_TIME_LIMIT_S: int = Field(3 * 3600, ge=10, le=7 * 86_400, validation_alias=_env("ANALYSIS_TIME_LIMIT_S"))
    #: Admission control (``backend.clips.capacity``): uploads are refused (503, Retry-After) while the uploads
    #: already waiting would take longer than this to start; 0: never refused for the backlog.
    ANALYSIS_MAX_DELAY_S: float = Field(4 * 3600.0, ge=0.0, le=30 * 86_400.0,
                                        validation_alias=_env("ANALYSIS_MAX_DELAY_S"))
    #: Frames/s a worker is taken to analyse before it has measured its own rate.
    ANALYSIS_ASSUMED_FPS: float = Field(10.0, gt=0.0, le=100_000.0, validation_alias=_env("ANALYSIS_ASSUMED_FPS"))
    #: Each user's uploaded footage waiting for analysis, in seconds of video, above which a new upload is
    #: refused (429, Retry-After); 0: no quota.
    UPLOAD_QUOTA_S: float = Field(8 * 3600.0, ge=0.0, le=365 * 86_400.0, validation_alias=_env("UPLOAD_QUOTA_S"))
    #: How often a long analysis looks, between batches, for live segments and synchronous requests to serve first.
    ANALYSIS_PREEMPT_CHECK_S: float = Field(0.5, ge=0.0, le=60.0, validation_alias=_env("ANALYSIS_PREEMPT_CHECK_S"))
    #: How often a worker sweeps the job table for lost, dead and exhausted jobs.
    JOB_SWEEP_EVERY_S: float = Field(30.0, ge=0.5, le=3600.0, validation_alias=_env("JOB_SWEEP_EVERY_S"))
    #: Uploads follow their camera's ``retention_days`` like recordings (else kept until deleted by hand).
    RETENTION_COVERS_UPLOADS: bool = Field(True, validation_alias=_env("RETENTION_COVERS_UPLOADS"))
    #: When free space under the media folder falls below this, the oldest footage goes first; 0: no floor.
    DISK_FREE_FLOOR_BYTES: int = Field(1024**3, ge=0, validation_alias=_env("DISK_FREE_FLOOR_BYTES"))
    #: How often a worker applies retention and the disk floor (the recorder does too).
    RETENTION_EVERY_S: float = Field(600.0, ge=1.0, le=86_400.0, validation_alias=_env("RETENTION_EVERY_S"))
    #: Run Celery tasks in the calling process (tests, one-shot scripts).
    CELERY_ALWAYS_EAGER: bool = Field(False, validation_alias=_env("CELERY_ALWAYS_EAGER"))
    #: Apply projections right after each append commits (embedded default); off when a projector runs.
    PROJECT_INLINE: bool = Field(True, validation_alias=_env("PROJECT_INLINE"))
    # When a track becomes a sighting (search/sightings.py): the site defaults, for a camera without tracked
    # objects of its own (backend.cameras.models.TrackedObject). Changing them changes nothing already
    # projected: rebuild with ``manage.py rebuild_projections search.sightings`` (and, on Elasticsearch,
    # ``manage.py rebuild_search_index``).
    #: Comma-separated labels whose tracks may become sightings; ``*``: every label.
    TRACKED_LABELS: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["person", "bicycle", "car", "motorcycle", "bus", "truck"],
        validation_alias=_env("TRACKED_LABELS"))
    #: A detection counts towards confirming its track from this confidence up.
    CONFIRM_MIN_SCORE: float = Field(0.3, ge=0.0, le=1.0, validation_alias=_env("CONFIRM_MIN_SCORE"))
    #: The median confidence of a track's last counted detections must reach this.
    CONFIRM_THRESHOLD: float = Field(0.5, ge=0.0, le=1.0, validation_alias=_env("CONFIRM_THRESHOLD"))
    #: Counted detections a track needs before it is a sighting.
    CONFIRM_MIN_HITS: int = Field(3, ge=1, le=10_000, validation_alias=_env("CONFIRM_MIN_HITS"))
    #: A detection counts only if its box covers at least / at most this fraction of the frame.
    CONFIRM_MIN_AREA: float = Field(0.0, ge=0.0, le=1.0, validation_alias=_env("CONFIRM_MIN_AREA"))
    CONFIRM_MAX_AREA: float = Field(1.0, ge=0.0, le=1.0, validation_alias=_env("CONFIRM_MAX_AREA"))

    # Privacy (analysis/privacy.py, backend/exports/): faces, and plates on cameras that ask for it, are
    # detected during analysis and logged as tracked detections (never sightings), so masks come from the log.
    #: Detect faces during analysis (CenterFace); off: nothing can be masked but whole persons.
    FACE_DETECTION: bool = Field(True, validation_alias=_env("FACE_DETECTION"))
    #: Faces from this CenterFace score up are logged (and masked).
    FACE_MIN_CONFIDENCE: float = Field(0.4, ge=0.01, le=1.0, validation_alias=_env("FACE_MIN_CONFIDENCE"))
    #: The longer side (pixels) frames are scaled to for the face detector.
    FACE_INPUT_SIDE: int = Field(640, ge=128, le=4096, validation_alias=_env("FACE_INPUT_SIDE"))
    #: Text regions inside vehicle boxes from this score up are logged as plates (cameras that mask plates).
    PLATE_MIN_CONFIDENCE: float = Field(0.5, ge=0.01, le=1.0, validation_alias=_env("PLATE_MIN_CONFIDENCE"))
    #: A mask is its box grown by this fraction of the box's size on every side.
    MASK_PADDING: float = Field(0.25, ge=0.0, le=2.0, validation_alias=_env("MASK_PADDING"))
    #: Longest export, and the most seconds a sighting's export may add before and after it.
    EXPORT_MAX_DURATION_S: float = Field(3600.0, ge=1.0, le=86_400.0, validation_alias=_env("EXPORT_MAX_DURATION_S"))
    EXPORT_MAX_MARGIN_S: float = Field(300.0, ge=0.0, le=3600.0, validation_alias=_env("EXPORT_MAX_MARGIN_S"))
    #: An export (or a masked rendition) is rendered and verified this many times before it fails.
    EXPORT_MAX_ATTEMPTS: int = Field(3, ge=1, le=20, validation_alias=_env("EXPORT_MAX_ATTEMPTS"))

    # Synchronous analysis (POST /api/v1/analyze/): an image or a short clip analysed by the workers while the
    # client waits (backend/analyze, analysis/on_demand.py); results are never events, sightings or clips.
    #: How long the request waits for its result before it answers 504 with the job to poll; a client may ask
    #: for less (``?timeout=``).
    ANALYZE_TIMEOUT_S: float = Field(10.0, gt=0, le=300.0, validation_alias=_env("ANALYZE_TIMEOUT_S"))
    #: Largest file accepted (the upload gate answers 413 to a body declaring more).
    ANALYZE_MAX_BYTES: int = Field(50 * 1024**2, ge=1024, validation_alias=_env("ANALYZE_MAX_BYTES"))
    #: Longest clip accepted, from its headers (a file holding more is analysed only this far).
    ANALYZE_MAX_DURATION_S: float = Field(10.0, gt=0, le=3600.0, validation_alias=_env("ANALYZE_MAX_DURATION_S"))
    #: Frames a second analysed in a clip.
    ANALYZE_FPS: float = Field(5.0, gt=0, le=60.0, validation_alias=_env("ANALYZE_FPS"))
    #: A finished request (and its result) is kept this long, then swept; its file goes as soon as it is analysed.
    ANALYZE_RESULT_TTL_S: float = Field(3600.0, ge=1.0, le=7 * 86_400.0, validation_alias=_env("ANALYZE_RESULT_TTL_S"))

    # Live view (backend/recorder/live.py, backend/recorder/live_api.py): HLS made from the recorder's own
    # connection while someone watches, faces masked for whoever may not unmask.
    #: Serve live views; off: the live endpoints answer 409 and no recorder starts a live tap.
    LIVE_VIEW: bool = Field(True, validation_alias=_env("LIVE_VIEW"))
    #: A live view runs this long after its playlist was last fetched (players fetch it every segment or so).
    LIVE_IDLE_S: float = Field(15.0, ge=1.0, le=600.0, validation_alias=_env("LIVE_IDLE_S"))
    #: How often a recorder looks whether someone watches its cameras.
    LIVE_POLL_S: float = Field(1.0, ge=0.1, le=30.0, validation_alias=_env("LIVE_POLL_S"))
    #: Live segment length (masked views start each with a key frame; unmasked ones follow the camera's GOP).
    LIVE_SEGMENT_S: float = Field(1.0, ge=0.5, le=10.0, validation_alias=_env("LIVE_SEGMENT_S"))
    #: Segments listed in a live playlist.
    LIVE_LIST_SIZE: int = Field(6, ge=2, le=60, validation_alias=_env("LIVE_LIST_SIZE"))
    #: Video packets a live tap may hold; past it the recorder drops whole GOPs for the tap (never waits).
    LIVE_QUEUE_PACKETS: int = Field(300, ge=10, le=10_000, validation_alias=_env("LIVE_QUEUE_PACKETS"))
    #: A live tap this far behind the camera skips to the next key frame.
    LIVE_MAX_BEHIND_S: float = Field(3.0, ge=0.5, le=60.0, validation_alias=_env("LIVE_MAX_BEHIND_S"))
    #: The longer side frames are scaled to for the live face detector (smaller: faster, misses smaller faces).
    LIVE_FACE_INPUT_SIDE: int = Field(320, ge=128, le=4096, validation_alias=_env("LIVE_FACE_INPUT_SIDE"))
    #: Live faces from this CenterFace score up are masked (below FACE_MIN_CONFIDENCE: live errs towards masking).
    LIVE_FACE_MIN_CONFIDENCE: float = Field(0.3, ge=0.01, le=1.0, validation_alias=_env("LIVE_FACE_MIN_CONFIDENCE"))
    #: Live persons and vehicles (cameras masking persons or plates) from this object-detector score up.
    LIVE_OBJECT_MIN_CONFIDENCE: float = Field(0.2, ge=0.01, le=1.0,
                                              validation_alias=_env("LIVE_OBJECT_MIN_CONFIDENCE"))
    #: Added to MASK_PADDING for live masks (faces move between detections).
    LIVE_MASK_MOTION_PADDING: float = Field(0.25, ge=0.0, le=2.0, validation_alias=_env("LIVE_MASK_MOTION_PADDING"))
    #: A live face stays masked this long after it was last detected (the detector misses one now and then).
    LIVE_MASK_HOLD_S: float = Field(1.0, ge=0.0, le=10.0, validation_alias=_env("LIVE_MASK_HOLD_S"))
    #: Faces are detected on every frame the tap can afford, and at least every this many seconds of video.
    LIVE_DETECT_MAX_INTERVAL_S: float = Field(0.3, ge=0.0, le=2.0, validation_alias=_env("LIVE_DETECT_MAX_INTERVAL_S"))
    #: Masked live views of taller cameras are scaled down to this height.
    LIVE_MAX_HEIGHT: int = Field(720, ge=144, le=4320, validation_alias=_env("LIVE_MAX_HEIGHT"))
    #: CPU threads of one masked live view's detector, decoder and encoder.
    LIVE_THREADS: int = Field(1, ge=1, le=64, validation_alias=_env("LIVE_THREADS"))

    @classmethod
    def declared_defaults(cls, *names: str) -> dict[str, Any]:
        """The defaults these settings declare, whatever this process's environment says (for measuring and
        testing the production behaviour in a process configured otherwise)."""
        return {name: cls.model_fields[name].get_default(call_default_factory=True) for name in names}

    @field_validator("ALLOWED_HOSTS", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @field_validator("CAMERA_DENY_NETWORKS", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [n.strip() for n in value.split(",") if n.strip()]
        return value

    @field_validator("TRACKED_LABELS", mode="before")
    @classmethod
    def _split_labels(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [label.strip() for label in value.split(",") if label.strip()]
        return value

    @field_validator("TRACKED_LABELS")
    @classmethod
    def _label_lengths(cls, value: list[str]) -> list[str]:
        if any(len(label) > 32 for label in value):
            raise ValueError("labels are at most 32 characters")
        return ["*"] if "*" in value else value

    @field_validator("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return value or None

    @field_validator("DATABASE_URL")
    @classmethod
    def _db_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgres://", "postgresql://", "sqlite://")):
            raise ValueError("must be a postgres:// or sqlite:// URL")
        return value

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("ELASTICSEARCH_URL")
    @classmethod
    def _es_scheme(cls, value: str | None) -> str | None:
        # One node's URL, or several nodes' of one cluster, comma-separated (the client fails over).
        if value is not None and not all(part.strip().startswith(("http://", "https://"))
                                         for part in value.split(",")):
            raise ValueError("must start with http:// or https:// (several: comma-separated)")
        return value

    @model_validator(mode="after")
    def _choose_search_backend(self) -> SightlineSettings:
        backend = SEARCH_BACKENDS.get(self.SEARCH_BACKEND, self.SEARCH_BACKEND)
        if not backend:
            backend = SEARCH_BACKENDS["elasticsearch" if self.ELASTICSEARCH_URL else "database"]
        if "." not in backend:
            raise ValueError(f"SEARCH_BACKEND must be {' or '.join(SEARCH_BACKENDS)} or a dotted path")
        if backend == SEARCH_BACKENDS["elasticsearch"] and not self.ELASTICSEARCH_URL:
            raise ValueError("SEARCH_BACKEND is elasticsearch but ELASTICSEARCH_URL is not set")
        object.__setattr__(self, "SEARCH_BACKEND", backend)  # frozen: set once, while validating
        if self.CONFIRM_MIN_AREA > self.CONFIRM_MAX_AREA:
            raise ValueError("CONFIRM_MIN_AREA must not be above CONFIRM_MAX_AREA")
        if self.CAMERA_ALLOW_LOOPBACK is None:
            object.__setattr__(self, "CAMERA_ALLOW_LOOPBACK", self.DATABASE_URL is None)
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):  # type: ignore[no-untyped-def,override]
        return (init_settings, env_settings, _FileSecretsSource(settings_cls))


class SettingsError(SystemExit):
    """Raised at start-up when the environment holds a value that cannot be used."""


def load_settings() -> SightlineSettings:
    """Parse the environment, or stop with a message that names each bad variable (never its value)."""
    try:
        return SightlineSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_input=False)
        )
        raise SettingsError(f"Invalid Sightline settings: {problems}") from None
