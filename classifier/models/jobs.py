"""The one life cycle every kind of worker job shares: training runs, evaluation reports,
prediction jobs and the kinds to come.

    queued --claim--> running --> succeeded | failed | cancelled
      ^  \\--cancel--> cancelled
      |                  | heartbeat silent (its worker died)
      +---- resumed -----+ (kinds that are safe to run again), else failed

The database is the source of truth; the broker only carries "job N is waiting". Every move
is a conditional UPDATE in classifier.services.jobs, so a second delivery of a message, a
second worker or the sweep can never both own a job. This module holds the shared fields
and the state derived from them (healthchecks keeps one Check life cycle the same way).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class Job(models.Model):
    # Set by each kind: the Celery task that runs it (the web sends it by this name, never
    # importing the worker), the word pages and URLs use for it, and whether a job whose
    # worker died may simply run again from the start.
    task_name: ClassVar[str]
    kind: ClassVar[str]
    resumable: ClassVar[bool] = False
    # The field naming who asked for it, and the name pages and the admin give a job of this kind.
    requester_field: ClassVar[str] = "requested_by"
    noun: ClassVar[str] = "Job"

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The broker may lose a message (Redis restarted without persistence, a flushed queue) or
    # be down when the job is created: the sweep sends a job again while it stays unclaimed.
    sent_at = models.DateTimeField(null=True, blank=True, help_text="when its message last went to the queue")
    sends = models.PositiveSmallIntegerField(default=0, help_text="messages sent for it so far")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="times a worker claimed it")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker_host = models.CharField(max_length=255, blank=True)
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    # What went wrong in one line, for everyone; the traceback (server paths, code) is for
    # staff, in the admin and the log only.
    error = models.TextField(blank=True)
    error_detail = models.TextField(blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.noun} #{self.pk} ({self.status})"

    @property
    def requester(self):
        """Who asked for it (None: the system); they may cancel it, as may staff."""
        return getattr(self, self.requester_field)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return not self.is_active

    @property
    def succeeded(self) -> bool:
        return self.status == JobStatus.SUCCEEDED

    @property
    def is_queued(self) -> bool:
        return self.status == JobStatus.QUEUED

    @property
    def cancel_requested(self) -> bool:
        return self.cancel_requested_at is not None

    def duration(self) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    def time_left(self) -> timedelta | None:
        """Linear estimate from the time spent so far; None until there is something to go on."""
        elapsed = self.duration()
        if self.status != JobStatus.RUNNING or elapsed is None or self.progress <= 0.01:
            return None
        return elapsed * ((1 - self.progress) / self.progress)

    def last_sign_of_life(self):
        return self.heartbeat_at or self.started_at or self.created_at

    def is_stale(self, now=None) -> bool:
        """Running, but its worker has not been heard from for longer than allowed."""
        if self.status != JobStatus.RUNNING:
            return False
        now = now or timezone.now()
        return now - self.last_sign_of_life() > timedelta(seconds=settings.JOB_STALE_AFTER_S)

    def is_waiting_unsent(self, now=None) -> bool:
        """Queued, and its message either never reached the queue or went so long ago that it
        may be lost: nothing should be attached to it, and the sweep will send it again."""
        if self.status != JobStatus.QUEUED:
            return False
        now = now or timezone.now()
        return self.sent_at is None or now - self.sent_at > timedelta(seconds=settings.JOB_RESEND_AFTER_S)
