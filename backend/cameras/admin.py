"""Admin for cameras: credentials (write-only), live state, tracked objects, and a "test connection" action.

The web app's Cameras page is where admins add, edit and delete cameras day to day (on the cameras API); this
admin stays for what the app does not edit: grants, retention, masking, tracked objects.

The password is never rendered back into the form. Connection test results and the camera's last error are
redacted (:func:`backend.sightline.redaction.redact`): FFmpeg quotes the URL with its password.

Tracked objects (the camera's confirmation rules, ``search.sightings``) are edited inline; saving them
re-projects the camera's sightings (``search.reprojection``). Their label is chosen from the detector's
labels when those can be read cheaply (:func:`backend.cameras.labels.detector_labels`), else typed.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .labels import detector_labels
from .models import Camera, TrackedObject


class CameraForm(forms.ModelForm):
    password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored password. Tick 'clear password' to remove it.",
    )
    clear_password = forms.BooleanField(required=False)

    class Meta:
        model = Camera
        fields = ["name", "site", "stream_address", "username", "password", "clear_password", "enabled",
                  "analysis_fps", "retention_days", "privacy_mask", "granted_users", "granted_groups"]

    def clean_stream_address(self) -> str:
        from .addresses import DestinationRefused, vet_destination

        address: str = self.cleaned_data.get("stream_address", "")
        if address:
            # A typo in the host name is the commonest mistake; say so now rather than in the recorder's log
            # (the API accepts a host that does not resolve yet: the recorder checks it at every connection).
            try:
                vet_destination(address)
            except DestinationRefused as exc:
                raise forms.ValidationError(str(exc)) from None
        return address

    def save(self, commit: bool = True) -> Camera:
        camera = super().save(commit=False)
        if self.cleaned_data.get("clear_password"):
            camera.set_password("")
        elif self.cleaned_data.get("password"):
            camera.set_password(self.cleaned_data["password"])
        if commit:
            camera.save()
            self.save_m2m()
        return camera


class TrackedObjectForm(forms.ModelForm):
    class Meta:
        model = TrackedObject
        fields = ["label", "min_score", "threshold", "min_hits", "min_area", "max_area"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = detector_labels()
        if labels:
            current = self.instance.label if self.instance.pk else ""
            choices = [("", "---------"), *((label, label) for label in labels)]
            if current and current not in labels:  # a label of another detector: kept as it is
                choices.append((current, current))
            self.fields["label"] = forms.ChoiceField(choices=choices, help_text="A label of the detector.")


class TrackedObjectInline(admin.TabularInline):
    """What the camera tracks. None: the site defaults (SIGHTLINE_TRACKED_LABELS, SIGHTLINE_CONFIRM_*)."""

    model = TrackedObject
    form = TrackedObjectForm
    extra = 0
    verbose_name = "tracked object"
    verbose_name_plural = "tracked objects (none: the site defaults; saving re-projects the sightings)"


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    form = CameraForm
    inlines = [TrackedObjectInline]
    list_display = ["name", "site", "enabled", "state", "last_seen_at", "analysis_fps", "has_password",
                    "created_at"]
    list_filter = ["enabled", "state", "site"]
    search_fields = ["name", "site"]
    filter_horizontal = ["granted_users", "granted_groups"]
    # The recorder's lease (which process records the camera, until when) is its own bookkeeping, not something
    # an admin reads or sets: hidden (``check_health`` reports cameras no recorder holds).
    readonly_fields = ["state", "last_seen_at", "last_error"]
    actions = ["test_connection"]

    @admin.display(boolean=True, description="password set")
    def has_password(self, obj: Camera) -> bool:
        return obj.has_password

    @admin.action(description="Test connection (open the stream now)")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Camera]) -> None:
        from backend.recorder.probe import check_stream

        for camera in queryset[:10]:  # each test may wait seconds for a timeout
            result = check_stream(camera)
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, f"{camera.name}: {result.message}", level)
