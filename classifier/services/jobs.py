"""Every move of a job's life cycle, for every kind of job (classifier.models.jobs): send,
claim, heartbeat, finish, fail, cancel, and the sweep that fails or resumes jobs whose worker
died and sends again those whose message was lost.

Each move is a conditional UPDATE: claiming takes only a queued job, a heartbeat only
counts for a running one that nobody asked to stop, finishing only ends a running one. So
a second delivery of the same message, two workers, or a worker and the sweep can never
both own a job, and whatever loses the race learns it (None, False, or JobLost).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from classifier.models import (
    ACTIVE_STATUSES,
    EvaluationReport,
    Job,
    JobStatus,
    LabelIssueJob,
    PredictionJob,
    PreparationJob,
    TrainingRun,
)
from classifier.services.webhooks import webhooks_job_finished, webhooks_resend_due
from fmnistsite.celery import app

logger = logging.getLogger(__name__)

# Every kind of job, in the order the sweep visits them.
JOB_MODELS: tuple[type[Job], ...] = (TrainingRun, EvaluationReport, PredictionJob, LabelIssueJob, PreparationJob)
JOB_KINDS: dict[str, type[Job]] = {model.kind: model for model in JOB_MODELS}
# A resumable job whose worker died this many times is failed instead: it may be what kills them.
MAX_ATTEMPTS = 2
# A job committed this recently may still be on its way to the queue from the request that made it.
SEND_GRACE_S = 30

QUEUE_UNREACHABLE = ("The job queue (Redis) can't be reached right now; the job is saved and will be sent to a "
                     "worker as soon as the queue is back.")


class JobLost(Exception):
    """This process no longer owns the job (the sweep took it back, or it was deleted)."""


class JobCancelled(Exception):
    """Someone asked the job to stop; the worker stops here."""


class JobRefused(Exception):
    """The job cannot be done as asked; the message says why, in words for its page."""


def this_host() -> str:
    return f"{socket.gethostname()} (pid {os.getpid()})"


def _rows(job: Job):
    return type(job).objects.filter(pk=job.pk)


# --- sending --------------------------------------------------------------------------------


def job_enqueue(*, job: Job) -> None:
    """Send the job's message once the current transaction commits (at once outside one), so a
    rolled-back request sends nothing. If the queue can't be reached the job stays queued
    with no sent_at; callers may tell the user (QUEUE_UNREACHABLE), and the sweep sends it
    when the queue is back."""
    transaction.on_commit(lambda: job_send(job=job))


def job_send(*, job: Job) -> bool:
    """Put "job N is waiting" on the queue, by task name (the web never imports the worker)."""
    try:
        app.send_task(job.task_name, args=[job.pk], retry=True, retry_policy=settings.JOB_SEND_RETRY_POLICY)
    except Exception as exc:  # noqa: BLE001 - kombu and redis raise many kinds; any means "not sent"
        logger.warning("%s %s: not sent, the queue is unreachable (%s: %s)", job.kind, job.pk, type(exc).__name__, exc)
        job._send_failed = True
        return False
    now = timezone.now()
    _rows(job).update(sent_at=now, sends=F("sends") + 1)
    job.sent_at, job.sends = now, job.sends + 1
    return True


def job_alive(queryset) -> Job | None:
    """The oldest job of the queryset that will run anyway: running with a live worker, or queued
    with its message recently sent. A new request may join it; a stale one it must not, or a
    lost message would strand every request attached to it."""
    now = timezone.now()
    for job in queryset.filter(status__in=ACTIVE_STATUSES).order_by("created_at", "pk"):
        if not (job.is_stale(now) or job.is_waiting_unsent(now)):
            return job
    return None


# --- the worker's side ----------------------------------------------------------------------


def job_send_failed(job: Job) -> bool:
    """Whether this request tried to send the job and could not reach the queue."""
    return getattr(job, "_send_failed", False)


def job_claim(*, model: type[Job], job_id: int, worker_host: str) -> Job | None:
    """Take a queued job for this worker. None if it is gone, finished, or someone else has it,
    which makes a second delivery of the same message harmless."""
    now = timezone.now()
    if not model.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, worker_host=worker_host, progress=0.0,
        attempts=F("attempts") + 1,
    ):
        return None
    return model.objects.get(pk=job_id)


def job_heartbeat(*, job: Job, progress: float | None = None, **fields) -> None:
    """Say the worker is alive, and how far it got. Raises JobCancelled when someone asked the
    job to stop, JobLost when this worker no longer owns it."""
    fields["heartbeat_at"] = timezone.now()
    if progress is not None:
        fields["progress"] = progress
    if _rows(job).filter(status=JobStatus.RUNNING, cancel_requested_at__isnull=True).update(**fields):
        return
    row = _rows(job).values("status", "cancel_requested_at").first()
    if row is not None and row["status"] == JobStatus.RUNNING and row["cancel_requested_at"] is not None:
        raise JobCancelled(f"{job.kind} {job.pk}")
    raise JobLost(f"{job.kind} {job.pk} is no longer running on this worker")


class Heartbeat:
    """Progress as often as a loop likes, written at most once per JOB_HEARTBEAT_S: each write
    is also the check for a cancel request, so a job stops within about that time."""

    def __init__(self, job: Job, interval_s: float | None = None) -> None:
        self.job = job
        self.interval_s = settings.JOB_HEARTBEAT_S if interval_s is None else interval_s
        self.last = -float("inf")  # the first call always writes

    def __call__(self, progress: float, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= self.interval_s:
            self.last = now
            job_heartbeat(job=self.job, progress=progress)


def _finish(job: Job, status: str, **fields) -> bool:
    now = timezone.now()
    return bool(_rows(job).filter(status=JobStatus.RUNNING).update(
        status=status, finished_at=now, heartbeat_at=now, **fields))


def job_succeed(*, job: Job, **fields) -> bool:
    """Mark a running job succeeded, storing its result fields in the same update."""
    done = _finish(job, JobStatus.SUCCEEDED, progress=1.0, **fields)
    if done:
        webhooks_job_finished(job=job)
    return done


def job_mark_cancelled(*, job: Job) -> bool:
    """The worker saw the cancel request and stopped."""
    return _finish(job, JobStatus.CANCELLED)


def job_fail(*, job: Job, error: str, detail: str = "") -> bool:
    """Mark a job failed with a one-line reason for its page (and the traceback for staff),
    whether it was running or never started."""
    reason = " ".join(error.split())[:1000] or "failed"
    failed = bool(_rows(job).filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).update(
        status=JobStatus.FAILED, finished_at=timezone.now(), error=reason, error_detail=detail))
    if failed:
        webhooks_job_finished(job=job)
    return failed


# --- people ---------------------------------------------------------------------------------


def _may_cancel(job: Job, user: AbstractBaseUser) -> bool:
    return user.is_authenticated and (user.is_staff or getattr(job.requester, "pk", None) == user.pk)


def job_can_cancel(*, job: Job, user: AbstractBaseUser) -> bool:
    return job.is_active and _may_cancel(job, user)


def job_cancel(*, job: Job, user: AbstractBaseUser) -> Job:
    """Staff, or whoever asked for the job. A queued job is cancelled at once; a running one
    stops at its next heartbeat (within about a second and a batch). Either way the job
    records who asked and when."""
    if not _may_cancel(job, user):
        raise PermissionDenied(f"only staff or whoever started it can cancel this {job.kind}")
    now = timezone.now()
    if _rows(job).filter(status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, finished_at=now, cancel_requested_at=now, cancelled_by=user,
    ):
        logger.info("%s %s cancelled by %s before it started", job.kind, job.pk, user)
    elif _rows(job).filter(status=JobStatus.RUNNING, cancel_requested_at__isnull=True).update(
        cancel_requested_at=now, cancelled_by=user,
    ):
        logger.info("%s %s: %s asked to cancel", job.kind, job.pk, user)
    job.refresh_from_db()
    return job


# --- the sweep ------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """For each outcome, kind -> ids: failed or resumed (started again from scratch) because the
    worker died, cancelled (it died while stopping), resent (queued; its message went again)."""

    failed: dict[str, list[int]] = field(default_factory=dict)
    resumed: dict[str, list[int]] = field(default_factory=dict)
    cancelled: dict[str, list[int]] = field(default_factory=dict)
    resent: dict[str, list[int]] = field(default_factory=dict)
    queued: dict[str, list[int]] = field(default_factory=dict)  # new jobs for work no job would do

    def add(self, outcome: str, job: Job) -> None:
        getattr(self, outcome).setdefault(job.kind, []).append(job.pk)

    def lines(self) -> list[str]:
        """What happened, one line per outcome, for the command and the log."""
        return [f"{words}: " + ("; ".join(f"{kind} {', '.join(map(str, ids))}" for kind, ids in
                                         getattr(self, outcome).items()) or "none")
                for outcome, words in (("failed", "failed (worker died)"), ("resumed", "started again (worker died)"),
                                       ("cancelled", "cancelled (worker died while stopping)"),
                                       ("resent", "sent to the queue again"),
                                       ("queued", "queued for work left waiting"))]

    def __bool__(self) -> bool:
        return any((self.failed, self.resumed, self.cancelled, self.resent, self.queued))


def _resend_due(now) -> Q:
    """Queued jobs whose message never reached the queue, or went long enough ago that it may
    be lost. Each further send waits twice as long as the one before (10 min, 20, 40, ... at
    most a day), so a job that waits behind a long queue gains only a few harmless copies."""
    base = settings.JOB_RESEND_AFTER_S
    due = Q(sent_at__isnull=True, created_at__lt=now - timedelta(seconds=min(SEND_GRACE_S, base)))
    for sends in range(1, 9):
        wait = min(base * 2 ** (sends - 1), 24 * 3600)
        due |= Q(sends=sends, sent_at__lt=now - timedelta(seconds=wait))
    due |= Q(sends__gte=9, sent_at__lt=now - timedelta(hours=24))
    return due


def jobs_sweep(*, stale_after_s: int | None = None) -> SweepResult:
    """Fail (or, for kinds safe to run again, resume) running jobs whose worker has gone
    silent, and send again queued jobs whose message may be lost. Called by every worker at
    start and every JOB_SWEEP_INTERVAL_S, by the web side as pages are served, and by
    `manage.py sweep_jobs`; any number of sweeps at once are safe."""
    stale_after = settings.JOB_STALE_AFTER_S if stale_after_s is None else stale_after_s
    now = timezone.now()
    cutoff = now - timedelta(seconds=stale_after)
    result = SweepResult()
    for model in JOB_MODELS:
        for job in model.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).only(
            "pk", "heartbeat_at", "worker_host", "attempts", "cancel_requested_at"
        ):
            _sweep_silent(job, cutoff, now, result)
        for job in model.objects.filter(_resend_due(now), status=JobStatus.QUEUED).only("pk", "sends", "sent_at"):
            if job_send(job=job):
                result.add("resent", job)
    # Photos left preparing by a preparation job that failed or was cancelled would otherwise
    # wait for the next upload. (photos imports this module, hence here.)
    from classifier.services.photos import photos_prepare_orphaned  # noqa: PLC0415

    orphans_job = photos_prepare_orphaned()
    if orphans_job is not None:
        result.add("queued", orphans_job)
    resent_deliveries = webhooks_resend_due()
    if resent_deliveries:
        logger.warning("sweep: %d webhook deliveries sent to the queue again", resent_deliveries)
    if result:
        logger.warning("sweep: %s", " | ".join(result.lines()))
    return result


def _sweep_silent(job: Job, cutoff, now, result: SweepResult) -> None:
    silent = _rows(job).filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
    since = f"no heartbeat since {job.heartbeat_at:%Y-%m-%d %H:%M:%S %Z} from {job.worker_host or 'its worker'}"
    if job.resumable and job.attempts < MAX_ATTEMPTS and job.cancel_requested_at is None:
        # Queued again from scratch, and sent below with the other queued jobs.
        if silent.update(status=JobStatus.QUEUED, worker_host="", heartbeat_at=None, started_at=None, progress=0.0,
                         sent_at=None, sends=0):
            logger.warning("%s %s started again: %s", job.kind, job.pk, since)
            result.add("resumed", job)
            job_send(job=job)
        return
    if job.cancel_requested_at is not None:
        if silent.update(status=JobStatus.CANCELLED, finished_at=now):
            result.add("cancelled", job)
        return
    error = (f"The worker stopped responding ({since}); it was probably killed or lost its machine."
             + (f" It was tried {job.attempts} times." if job.resumable else ""))
    if silent.update(status=JobStatus.FAILED, finished_at=now, error=error):
        result.add("failed", job)
        webhooks_job_finished(job=job)


def jobs_sweep_if_due() -> None:
    """The web side's sweep, at most once per JOB_WEB_SWEEP_S in each process (0: never), so
    that a dead job stops showing "running" even when no worker is alive to sweep."""
    global _last_web_sweep
    interval = settings.JOB_WEB_SWEEP_S
    if not interval or time.monotonic() - _last_web_sweep < interval:
        return
    _last_web_sweep = time.monotonic()
    try:
        jobs_sweep()
    except Exception:  # noqa: BLE001 - a page must not fail because a sweep did; the next one retries
        logger.exception("web-side sweep failed")


_last_web_sweep = -float("inf")
