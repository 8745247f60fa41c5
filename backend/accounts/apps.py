from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_migrate


class AccountsConfig(AppConfig):
    name = "backend.accounts"
    label = "accounts"
    verbose_name = "Users and roles"

    def ready(self) -> None:
        from django.contrib.auth.models import User

        from . import signals

        # Every app's permissions exist only after its own post_migrate: run after each (idempotent).
        post_migrate.connect(signals.grant_admin_permissions, dispatch_uid="sightline-admin-permissions")
        m2m_changed.connect(signals.admins_are_staff, sender=User.groups.through)
