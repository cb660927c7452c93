"""Creating runs and recording their epochs; the life cycle they share with every job is
tested in test_services_jobs."""

from pathlib import Path

import pytest

from classifier.models import Checkpoint, JobStatus, TrainingRun
from classifier.services import jobs as job_services
from classifier.services import training as services
from engine.results import EpochResult
from tests.factories import TrainingRunFactory, tiny_config


def _claimed(**kwargs) -> TrainingRun:
    run = TrainingRunFactory(**kwargs)
    return job_services.job_claim(model=TrainingRun, job_id=run.pk, worker_host="host-a")


def test_create_records_a_queued_run_and_enqueues_after_commit(staff_user, django_capture_on_commit_callbacks,
                                                               sent_tasks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.training_run_create(created_by=staff_user, config=tiny_config(seed=7), note="n")
        assert sent_tasks == []  # nothing leaves before the transaction commits
    assert run.status == JobStatus.QUEUED
    assert (run.preset, run.seed, run.config["limit"], run.created_by) == ("seed", 7, 512, staff_user)
    for callback in callbacks:
        callback()
    assert sent_tasks == [("worker.tasks.train_run", run.pk)]


def _epoch(epoch: int, val_acc: float) -> EpochResult:
    return EpochResult(epoch=epoch, train_loss=1.0 / epoch, train_acc=0.5, val_loss=1.0 / epoch,
                                 val_acc=val_acc, seconds=1.0, lr=1e-3)


def _checkpoint_file(tmp_path, run, epoch) -> Path:
    """An epoch's file as a worker leaves it, in its scratch folder (not where checkpoints are stored)."""
    path = tmp_path / "scratch" / f"epoch-{epoch:03d}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * epoch)
    return path


def test_record_epoch_stores_the_file_and_keeps_the_best_and_the_last(db, settings, tmp_path,
                                                                      django_capture_on_commit_callbacks):
    run = _claimed()
    stored = {}
    with django_capture_on_commit_callbacks(execute=True):
        for epoch, acc in [(1, 0.80), (2, 0.90), (3, 0.85), (4, 0.86)]:
            checkpoint = services.training_run_record_epoch(
                run_id=run.pk, figures=_epoch(epoch, acc), checkpoint_file=_checkpoint_file(tmp_path, run, epoch),
                sha256=f"{epoch:064d}", size=epoch, epochs_total=4)
            assert checkpoint.file.name == f"run-{run.pk}/epoch-{epoch:03d}.pt"
            stored[epoch] = Path(settings.CHECKPOINT_ROOT) / checkpoint.file.name
            assert stored[epoch].read_bytes() == b"x" * epoch  # a copy, in checkpoint storage
    kept = {c.epoch for c in Checkpoint.objects.filter(run=run)}
    assert kept == {2, 4}
    assert [p.exists() for p in (stored[1], stored[2], stored[3], stored[4])] == [False, True, False, True]
    run.refresh_from_db()
    assert run.epochs_done == 4 and run.progress == 1.0 and run.epochs.count() == 4


def test_record_epoch_refuses_a_run_that_is_no_longer_running_and_stores_nothing(db, settings, tmp_path):
    run = _claimed()
    job_services.job_fail(job=run, error="swept")
    with pytest.raises(job_services.JobLost):
        services.training_run_record_epoch(run_id=run.pk, figures=_epoch(1, 0.5),
                                           checkpoint_file=_checkpoint_file(tmp_path, run, 1),
                                           sha256="0" * 64, size=1, epochs_total=2)
    assert not (Path(settings.CHECKPOINT_ROOT) / f"run-{run.pk}" / "epoch-001.pt").exists()
