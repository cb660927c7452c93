"""Migrations keep every existing row: the job life cycle migration (0007) on data made with
the models as they were before it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("classifier", "0006_photo_second_opinion")]
AFTER = [("classifier", "0007_job_life_cycle")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_job_life_cycle_migration_keeps_every_run_report_and_prediction_job():
    old = _migrate(BEFORE)
    Run, Checkpoint = old.get_model("classifier", "TrainingRun"), old.get_model("classifier", "Checkpoint")
    Report, Prediction = old.get_model("classifier", "EvaluationReport"), old.get_model("classifier", "PredictionJob")
    now = timezone.now()
    cancelled = Run.objects.create(config={"epochs": 2}, preset="seed", seed=0, status="cancelled",
                                   cancel_requested=True, started_at=now, finished_at=now)
    failed = Run.objects.create(config={"epochs": 2}, preset="seed", seed=0, status="failed", started_at=now,
                                error="KeyError: 'x'\n\nTraceback (most recent call last):\n  File \"/srv/a.py\"")
    queued = Run.objects.create(config={"epochs": 2}, preset="seed", seed=0, created_at=now - timedelta(hours=1))
    checkpoint = Checkpoint.objects.create(run=failed, epoch=1, file="run-2/epoch-001.pt", size=1, sha256="0" * 64,
                                           val_acc=0.8, val_loss=0.5)
    report = Report.objects.create(checkpoint=checkpoint, run=failed, checkpoint_epoch=1, checkpoint_sha256="0" * 64,
                                   status="failed", error="The checkpoint file is missing: x.pt")
    prediction = Prediction.objects.create(checkpoint=checkpoint, status="running", total=200, done=50,
                                           started_at=now, heartbeat_at=now)

    new = _migrate(AFTER)
    Run, Report, Prediction = (new.get_model("classifier", name)
                               for name in ("TrainingRun", "EvaluationReport", "PredictionJob"))
    assert Run.objects.count() == 3 and Report.objects.count() == 1 and Prediction.objects.count() == 1
    cancelled, failed, queued = (Run.objects.get(pk=r.pk) for r in (cancelled, failed, queued))
    assert cancelled.status == "cancelled" and cancelled.cancel_requested_at == now and cancelled.attempts == 1
    assert failed.error == "KeyError: 'x'" and failed.error_detail.startswith("Traceback") and "/srv" in failed.error_detail
    # A run queued before the upgrade counts as sent when it was made, so the sweep sends it again if unclaimed.
    assert queued.sent_at == queued.created_at and queued.sends == 1 and queued.attempts == 0
    report = Report.objects.get(pk=report.pk)
    assert report.error == "The checkpoint file is missing: x.pt" and report.error_detail == ""
    prediction = Prediction.objects.get(pk=prediction.pk)
    assert prediction.progress == pytest.approx(0.25) and prediction.status == "running"

    old = _migrate(BEFORE)  # and back, for a rollback of the upgrade
    Run = old.get_model("classifier", "TrainingRun")
    assert Run.objects.get(pk=cancelled.pk).cancel_requested
    assert Run.objects.get(pk=failed.pk).error.startswith("KeyError: 'x'\n\nTraceback")
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
