"""Evaluation task: a thin adapter from a report's primary key to the one service that scores
it (the same one `manage.py evaluate` runs in-process)."""

from __future__ import annotations

import logging

from celery import shared_task

from classifier.services import evaluation as evaluation_services
from worker.tasks.training import worker_identity

logger = logging.getLogger(__name__)


@shared_task(name="worker.tasks.evaluate_report")
def evaluate_report(report_id: int) -> None:
    """Leave the report succeeded or failed with its reason, never running."""
    evaluation_services.evaluation_report_run(report_id=report_id, worker_host=worker_identity())
