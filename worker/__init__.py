"""The Celery worker: thin tasks (worker.tasks), one wrapper that gives every task the job life
cycle (worker.jobs), and the glue where Django records meet the engine (*_job.py). Start a
worker with `celery -A worker worker`."""

from fmnistsite.celery import app
from fmnistsite.env import settings_or_exit

# `celery -A worker` imports this first: a missing setting is one line, not a traceback.
settings_or_exit("celery")

__all__ = ["app"]
