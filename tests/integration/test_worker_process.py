"""A real `celery worker` process against the real Redis takes runs to the end."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from classifier.models import RunStatus, TrainingRun
from classifier.services import training as services
from tests.factories import StaffFactory, tiny_config
from tests.workers import REPO, TEST_BROKER_URL, database_url, start_worker, wait_for
from worker import engine
from worker.tasks.training import train_run

pytestmark = pytest.mark.integration


def _status(run_id: int) -> TrainingRun:
    return TrainingRun.objects.get(pk=run_id)


def test_a_run_started_through_the_service_succeeds_in_the_worker(worker, settings):
    run = services.training_run_create(created_by=StaffFactory(), config=tiny_config(epochs=2))
    run = wait_for(lambda: _status(run.pk) if _status(run.pk).is_finished else None, timeout=300,
                   message=f"run to finish; worker log:\n{worker.log()}")
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert list(run.epochs.values_list("epoch", flat=True)) == [1, 2]
    assert run.worker_host and run.device.startswith("cpu")
    checkpoint = run.checkpoints.order_by("-epoch").first()
    path = Path(settings.CHECKPOINT_ROOT) / checkpoint.file.name
    assert checkpoint.epoch == 2 and engine.file_sha256(path) == checkpoint.sha256


def _manage(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fmnistsite.test_settings", "DATABASE_URL": database_url(),
           "CELERY_BROKER_URL": TEST_BROKER_URL}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


def test_train_command_waits_with_a_progress_bar_and_exits_0(worker):
    result = _manage("train", "--preset", "seed", "--epochs", "2", "--limit", "500", "--wait", "--poll", "0.3")
    assert result.returncode == 0, result.stdout + result.stderr
    run = TrainingRun.objects.get()
    assert f"run {run.pk} queued" in result.stdout and f"run {run.pk} succeeded" in result.stdout
    assert "val_acc" in result.stdout and "epochs" in result.stderr  # tqdm draws on stderr
    assert run.status == RunStatus.SUCCEEDED and run.epochs.count() == 2


def test_train_command_exits_non_zero_when_the_run_fails(worker):
    result = _manage("train", "--preset", "seed", "--epochs", "1", "--limit", "200", "--device", "cuda", "--wait")
    assert result.returncode != 0
    assert "failed" in result.stderr and "DeviceUnavailable" in result.stderr


def test_train_command_without_wait_returns_at_once(worker):
    started = time.monotonic()
    result = _manage("train", "--preset", "seed", "--epochs", "1", "--limit", "200")
    run = TrainingRun.objects.get()
    assert result.returncode == 0 and result.stdout.strip() == f"run {run.pk} queued (seed, 1 epochs)"
    assert time.monotonic() - started < 60
    wait_for(lambda: _status(run.pk).is_finished, timeout=300, message="the queued run to finish")


def test_a_run_whose_worker_is_killed_ends_failed_after_the_sweep(transactional_db, tmp_path, monkeypatch):
    # This test's workers listen on a queue of their own, so the session's worker stays out.
    queue = f"kill-test-{os.getpid()}"
    monkeypatch.setattr(services, "_enqueue_training", lambda run_id: train_run.apply_async(args=[run_id], queue=queue))
    victim = start_worker(tmp_path, "victim", queue=queue)
    try:
        run = services.training_run_create(created_by=StaffFactory(), config=tiny_config(epochs=3, limit=20_000))
        wait_for(lambda: _status(run.pk).progress > 0 and _status(run.pk).epochs_done == 0, timeout=120,
                 message=f"the run to be mid-epoch; worker log:\n{victim.log()}")
    finally:
        victim.kill()
    assert _status(run.pk).status == RunStatus.RUNNING  # nobody is left to say otherwise
    time.sleep(3)
    # A worker that starts after the crash sweeps at once.
    successor = start_worker(tmp_path, "successor", queue=queue, extra_env={"RUN_STALE_AFTER_S": "2"})
    try:
        run = wait_for(lambda: _status(run.pk) if _status(run.pk).status != RunStatus.RUNNING else None,
                       timeout=60, message="the sweep")
    finally:
        successor.stop()
    assert run.status == RunStatus.FAILED and "stopped responding" in run.error


def test_staff_cancel_stops_a_running_run_in_the_worker(worker):
    staff = StaffFactory()
    run = services.training_run_create(created_by=staff, config=tiny_config(epochs=5, limit=20_000))
    wait_for(lambda: _status(run.pk).progress > 0, timeout=120, message="the run to start training")
    asked = time.monotonic()
    services.training_run_cancel(run=_status(run.pk), user=staff)
    run = wait_for(lambda: _status(run.pk) if _status(run.pk).is_finished else None, timeout=60,
                   message="the worker to stop")
    assert run.status == RunStatus.CANCELLED and run.epochs_done < 5
    assert time.monotonic() - asked < 15  # a heartbeat interval plus a batch, with room for a busy CI
