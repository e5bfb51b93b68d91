"""Long-running work (back-fills, imports, re-posting) with progress for screens and commands."""

from __future__ import annotations

import uuid

from django.db import models

__all__ = ["Job", "Wakeup"]


class Job(models.Model):
    """A unit of long work whose progress a page polls and a command prints."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=40)
    description = models.CharField(max_length=255)
    status = models.CharField(
        max_length=10,
        choices=[("running", "Running"), ("done", "Done"), ("failed", "Failed")],
        default="running",
    )
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.done}/{self.total or '?'}"

    @property
    def percent(self) -> int | None:
        """Progress in percent when the total is known."""
        if not self.total:
            return None
        return min(100, int(self.done * 100 / self.total))


class Wakeup(models.Model):
    """A hint every process shares: when the task that processes waiting inbox rows was queued
    and has not started yet (``woken_at`` null: none is waiting). Receipt queues that task only
    when none is waiting (or the one queued is ``STALE``), so a burst of webhooks costs the broker
    one message, not one per webhook; the task clears the mark before it claims rows, so a row
    committed before a receipt saw the mark set is always claimed by a task that starts after it
    (issue 19, ``integrator.services.wake``)."""

    name = models.CharField(max_length=40, primary_key=True)
    woken_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: {'queued since ' + self.woken_at.isoformat() if self.woken_at else 'idle'}"
