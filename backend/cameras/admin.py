from django import forms
from django.contrib import admin

from .models import Camera


class CameraForm(forms.ModelForm):
    password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored password. Tick 'clear password' to remove it.",
    )
    clear_password = forms.BooleanField(required=False)

    class Meta:
        model = Camera
        fields = ["name", "site", "stream_address", "username", "password", "clear_password", "enabled",
                  "analysis_fps", "retention_days", "granted_users", "granted_groups"]

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


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    form = CameraForm
    list_display = ["name", "site", "enabled", "analysis_fps", "has_password", "created_at"]
    list_filter = ["enabled", "site"]
    search_fields = ["name", "site"]
    filter_horizontal = ["granted_users", "granted_groups"]

    @admin.display(boolean=True, description="password set")
    def has_password(self, obj: Camera) -> bool:
        return obj.has_password
