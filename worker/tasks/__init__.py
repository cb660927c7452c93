"""Celery tasks, one module per kind of job. Importing this package registers them all.

The web process imports these modules to enqueue, so none of them imports torch at module
level; the engine is imported inside task bodies, which only run on workers."""

from worker.tasks.evaluation import evaluate_report
from worker.tasks.photos import predict_photos
from worker.tasks.training import sweep_runs, train_run

__all__ = ["evaluate_report", "predict_photos", "sweep_runs", "train_run"]
