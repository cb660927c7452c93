"""Asking a worker for something small while a request waits (the API's predict, a model
export): sent by task name, as jobs are (the web never imports the worker nor torch), with the
answer kept in Redis for the caller. Not a job: nothing is recorded, and a caller that gives
up leaves nothing to settle."""

from __future__ import annotations

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from kombu.exceptions import OperationalError

from fmnistsite.celery import app


class WorkerUnavailable(Exception):
    """No answer can be had now; the message says why, for the caller."""


def worker_call(task_name: str, args: list, *, timeout: float) -> dict:
    """The task's answer, a dict; one with "error" (a refusal the worker explains) raises."""
    try:
        # expires: a message no worker took in time is dropped, not answered for no one.
        result = app.send_task(task_name, args=args, expires=timeout, retry=True,
                               retry_policy=settings.JOB_SEND_RETRY_POLICY)
    except OperationalError:
        raise WorkerUnavailable("The job queue (Redis) can't be reached right now; try again later.") from None
    try:
        answer = result.get(timeout=timeout)
    except CeleryTimeout:
        raise WorkerUnavailable(f"No worker answered within {timeout:g} s; try again later.") from None
    finally:
        result.forget()
    if "error" in answer:
        raise WorkerUnavailable(answer["error"])
    return answer
