"""Celery app, tasks and the PyTorch engine they drive. Start a worker with
`celery -A worker worker`."""

from worker.celery import app

__all__ = ["app"]
