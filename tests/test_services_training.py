from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from classifier.models import Checkpoint, RunStatus, TrainingRun
from classifier.services import training as services
from tests.factories import TrainingRunFactory, UserFactory, tiny_config


def _claimed(**kwargs) -> TrainingRun:
    run = TrainingRunFactory(**kwargs)
    return services.training_run_claim(run_id=run.pk, worker_host="host-a")


def test_create_records_a_queued_run_and_enqueues_after_commit(staff_user, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(services, "_enqueue_training", sent.append)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.training_run_create(created_by=staff_user, config=tiny_config(seed=7), note="n")
        assert sent == []  # nothing leaves before the transaction commits
    assert run.status == RunStatus.QUEUED
    assert (run.preset, run.seed, run.config["limit"], run.created_by) == ("seed", 7, 512, staff_user)
    for callback in callbacks:
        callback()
    assert sent == [run.pk]


def test_claim_lets_only_one_worker_have_a_run(db):
    run = TrainingRunFactory()
    first = services.training_run_claim(run_id=run.pk, worker_host="host-a")
    second = services.training_run_claim(run_id=run.pk, worker_host="host-b")
    assert first is not None and first.status == RunStatus.RUNNING
    assert second is None
    run.refresh_from_db()
    assert run.worker_host == "host-a" and run.started_at is not None and run.heartbeat_at is not None


def test_heartbeat_updates_progress(db):
    run = _claimed()
    services.training_run_heartbeat(run_id=run.pk, progress=0.4)
    run.refresh_from_db()
    assert run.progress == pytest.approx(0.4)


def test_heartbeat_raises_when_cancel_was_requested(db, staff_user):
    run = _claimed()
    services.training_run_cancel(run=run, user=staff_user)
    with pytest.raises(services.RunCancelRequested):
        services.training_run_heartbeat(run_id=run.pk, progress=0.5)
    assert services.training_run_mark_cancelled(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.finished_at is not None


def test_heartbeat_raises_run_lost_after_the_sweep_failed_the_run(db):
    run = _claimed()
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
    with pytest.raises(services.RunLost):
        services.training_run_heartbeat(run_id=run.pk, progress=0.5)


def test_cancel_of_a_queued_run_takes_effect_at_once(db, staff_user):
    run = TrainingRunFactory()
    run = services.training_run_cancel(run=run, user=staff_user)
    assert run.status == RunStatus.CANCELLED
    assert services.training_run_claim(run_id=run.pk, worker_host="late") is None


def test_cancel_refuses_non_staff(db):
    run = TrainingRunFactory()
    with pytest.raises(PermissionDenied):
        services.training_run_cancel(run=run, user=UserFactory())
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and not run.cancel_requested


def test_fail_records_the_error_text(db):
    run = _claimed()
    assert services.training_run_fail(run_id=run.pk, error="ValueError: boom")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.error == "ValueError: boom" and run.finished_at


def test_finished_runs_do_not_change_status_again(db):
    run = _claimed()
    assert services.training_run_succeed(run_id=run.pk)
    assert not services.training_run_fail(run_id=run.pk, error="late")
    assert not services.training_run_mark_cancelled(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.error == "" and run.progress == 1.0


def test_sweep_fails_only_runs_whose_heartbeat_is_stale(db):
    stale, fresh = _claimed(), _claimed()
    TrainingRun.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    queued = TrainingRunFactory()
    failed = services.training_runs_sweep(stale_after_s=60)
    assert failed == [stale.pk]
    stale.refresh_from_db(); fresh.refresh_from_db(); queued.refresh_from_db()
    assert stale.status == RunStatus.FAILED and "stopped responding" in stale.error and "host-a" in stale.error
    assert fresh.status == RunStatus.RUNNING and queued.status == RunStatus.QUEUED


def _epoch(epoch: int, val_acc: float) -> services.EpochFigures:
    return services.EpochFigures(epoch=epoch, train_loss=1.0 / epoch, train_acc=0.5, val_loss=1.0 / epoch,
                                 val_acc=val_acc, seconds=1.0, lr=1e-3)


def _checkpoint_file(settings, run, epoch) -> Path:
    path = Path(settings.CHECKPOINT_ROOT) / f"run-{run.pk}" / f"epoch-{epoch:03d}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * epoch)
    return path


def test_record_epoch_keeps_the_best_and_the_last_checkpoint(db, settings, django_capture_on_commit_callbacks):
    run = _claimed()
    paths = {}
    with django_capture_on_commit_callbacks(execute=True):
        for epoch, acc in [(1, 0.80), (2, 0.90), (3, 0.85), (4, 0.86)]:
            paths[epoch] = _checkpoint_file(settings, run, epoch)
            services.training_run_record_epoch(run_id=run.pk, figures=_epoch(epoch, acc), checkpoint_path=paths[epoch],
                                               sha256=f"{epoch:064d}", size=epoch, epochs_total=4)
    kept = {c.epoch for c in Checkpoint.objects.filter(run=run)}
    assert kept == {2, 4}
    assert [p.exists() for p in (paths[1], paths[2], paths[3], paths[4])] == [False, True, False, True]
    run.refresh_from_db()
    assert run.epochs_done == 4 and run.progress == 1.0 and run.epochs.count() == 4


def test_record_epoch_refuses_a_run_that_is_no_longer_running(db, settings):
    run = _claimed()
    services.training_run_fail(run_id=run.pk, error="swept")
    with pytest.raises(services.RunLost):
        services.training_run_record_epoch(run_id=run.pk, figures=_epoch(1, 0.5),
                                           checkpoint_path=_checkpoint_file(settings, run, 1),
                                           sha256="0" * 64, size=1, epochs_total=2)


def test_time_left_and_staleness_are_derived_from_the_row(db, settings):
    run = _claimed()
    TrainingRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(seconds=100), progress=0.25)
    run.refresh_from_db()
    assert run.time_left().total_seconds() == pytest.approx(300, abs=5)
    assert not run.is_stale()
    assert run.is_stale(now=timezone.now() + timedelta(seconds=settings.RUN_STALE_AFTER_S + 5))
