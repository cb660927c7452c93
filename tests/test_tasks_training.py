"""The training task called directly, in this process, on a few hundred real images."""

from pathlib import Path

import torch

from classifier.models import JobStatus, TrainingRun
from classifier.services import jobs as job_services
from dataset.fashion_mnist import training_data
from engine.checkpoints import file_sha256, load_checkpoint
from engine.config import TrainConfig
from tests.budgets import budget_for
from tests.factories import TrainingRunFactory, tiny_config
from worker.tasks import train_run


def test_a_run_trains_to_succeeded_with_epochs_and_checkpoints(db, settings):
    run = TrainingRunFactory(config=tiny_config(epochs=3).to_dict())
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.progress == 1.0 and run.epochs_done == 3 and run.finished_at
    assert run.device.startswith("cpu") and run.precision in ("fp32", "bf16")
    assert run.torch_version == torch.__version__ and len(run.dataset_fingerprint) == 64
    logs = list(run.epochs.order_by("epoch"))
    assert [e.epoch for e in logs] == [1, 2, 3]
    assert logs[-1].train_loss < logs[0].train_loss
    checkpoints = list(run.checkpoints.all())
    assert 1 <= len(checkpoints) <= 2  # best and last (the same one when the last is best)
    for checkpoint in checkpoints:
        path = Path(settings.CHECKPOINT_ROOT) / checkpoint.file.name
        assert file_sha256(path) == checkpoint.sha256 and path.stat().st_size == checkpoint.size
        model, payload = load_checkpoint(path)
        assert payload["epoch"] == checkpoint.epoch and payload["config"]["limit"] == 512


def test_a_failure_is_recorded_with_its_reason(db):
    run = TrainingRunFactory(config=tiny_config(device="cuda").to_dict())
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
    # The reason, in words; no traceback on the page (staff find it in the admin).
    assert run.error == "device 'cuda' was asked for, but this worker has no CUDA GPU"
    assert "Traceback" in run.error_detail and "DeviceUnavailable" in run.error_detail


def test_an_unexpected_error_says_so_in_one_line(db, monkeypatch):
    from worker import training_job

    def broken(*_args, **_kwargs):
        raise KeyError("val_size")

    monkeypatch.setattr(training_job, "training_data", broken)
    run = TrainingRunFactory()
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and "\n" not in run.error
    assert run.error == "Unexpected error on the worker: KeyError: 'val_size'"
    assert "training_job.py" in run.error_detail and "/work" not in run.error


def test_a_cancel_request_stops_the_run_as_cancelled(db, staff_user, monkeypatch):
    run = TrainingRunFactory(config=tiny_config(epochs=5).to_dict())
    real_heartbeat = job_services.job_heartbeat

    def cancel_during_first_epoch(*, job, **fields):
        job_services.job_cancel(job=TrainingRun.objects.get(pk=job.pk), user=staff_user)
        real_heartbeat(job=job, **fields)

    monkeypatch.setattr(job_services, "job_heartbeat", cancel_during_first_epoch)
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and run.cancelled_by == staff_user
    assert run.epochs_done == 0 and run.epochs.count() == 0


def test_a_run_that_is_not_queued_is_left_alone(db):
    run = TrainingRunFactory(status=JobStatus.CANCELLED)
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and run.started_at is None


def test_a_budget_too_small_for_one_epoch_fails_the_run_saying_why(db):
    run = TrainingRunFactory(config=TrainConfig.for_preset("best", budget_s=10, val_size=200).to_dict())
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and run.epochs.count() == 0
    assert run.error.startswith("A budget of 10 s is too small: one epoch takes about") and "Give at least" in run.error


def test_a_budgeted_run_records_its_plan_and_its_training_time(db):
    data = training_data(val_size=200, seed=0, limit=3200)
    budget_s = budget_for(TrainConfig.for_preset("seed", epochs=1), data.train_images, data.train_labels, epochs=3)
    config = TrainConfig.for_preset("seed", budget_s=round(budget_s, 1), limit=3200, val_size=200)
    run = TrainingRunFactory(config=config.to_dict())
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.plan["budget_s"] == config.budget_s and run.plan["total_steps"] >= run.plan["batches_per_epoch"] == 50
    assert run.epochs_total == run.plan["epochs"] == run.epochs.count() == run.epochs_done
    assert 0 < run.training_seconds() <= sum(e.seconds for e in run.epochs.all()) + run.plan["probe_s"]
