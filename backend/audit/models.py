"""The audit chain's head (its newest hash and length), and a proxy of the event log for the admin."""

from __future__ import annotations

from django.db import models

from backend.eventlog.models import Event, EventType


class AuditHead(models.Model):
    """One row: the newest entry's hash and how many entries the chain holds."""

    hash = models.CharField(max_length=64)
    entries = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.entries} entries, head {self.hash[:12]}…"


class AuditEntryManager(models.Manager["AuditEntry"]):
    def get_queryset(self) -> models.QuerySet[AuditEntry]:
        return super().get_queryset().filter(type=EventType.AUDIT)


class AuditEntry(Event):
    objects = AuditEntryManager()

    class Meta:
        proxy = True
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"
        ordering = ["-seq"]
