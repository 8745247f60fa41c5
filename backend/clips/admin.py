"""Clips in the admin: upload footage (checked, probed and queued exactly like an API upload) and follow jobs."""

from django import forms
from django.contrib import admin

from .models import Clip
from .services import AlreadyUploaded, UploadRejected, register_stored, store_upload, upload_start


class ClipUploadForm(forms.ModelForm):
    started_at = forms.DateTimeField(required=False, help_text="Time of the first frame; default: the time the "
                                                               "file says it was recorded, else now.")

    class Meta:
        model = Clip
        fields = ["camera", "file", "started_at"]

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        upload, camera = cleaned.get("file"), cleaned.get("camera")
        if not upload or not camera or self._errors:
            return cleaned  # nothing is stored for a form that will be shown again anyway
        try:
            self.stored = store_upload(upload, camera, original_name=upload.name)
        except (UploadRejected, AlreadyUploaded) as exc:
            raise forms.ValidationError({"file": str(exc)}) from None
        return cleaned


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = ["id", "camera", "started_at", "status", "progress", "detections", "source", "created_at"]
    list_filter = ["status", "source", "camera"]
    date_hierarchy = "started_at"
    readonly_fields = ["original_name", "source", "started_at_source", "duration_s", "width", "height", "codec",
                       "size_bytes",
                       "status", "progress", "error", "frames_analysed", "detections", "job_id", "uploaded_by",
                       "created_at", "analysis_started_at", "analysis_finished_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):  # type: ignore[no-untyped-def]
        if obj is None:
            kwargs["form"] = ClipUploadForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is None:
            return ["camera", "file", "started_at"]
        return ["camera", "file", "started_at", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [*self.readonly_fields, "camera", "file", "started_at"] if obj else []

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            return super().save_model(request, obj, form, change)
        started_at, source = upload_start(form.cleaned_data.get("started_at"), form.stored.info)
        clip, _ = register_stored(form.stored, camera=form.cleaned_data["camera"], started_at=started_at,
                                  started_at_source=source, uploaded_by=request.user)
        # The admin goes on with ``obj`` (change message, redirect): make it the registered clip.
        obj.pk = clip.pk
        obj.refresh_from_db()
