"""Real `celery worker` processes against the real Redis take jobs to the end, and the job
life cycle holds when workers die, messages are lost, or Redis is down."""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.utils import timezone

from classifier.models import JobStatus, Photo, PredictionJob, PredictionScope, TrainingRun
from classifier.services import jobs as job_services
from classifier.services import training as services
from engine.checkpoints import file_sha256
from tests.checkpoints import saved_checkpoint
from tests.factories import EvaluationReportFactory, PhotoFactory, StaffFactory, TrainingRunFactory, tiny_config
from tests.workers import (
    PRIVATE_BROKER_URL,
    REPO,
    TEST_BROKER_URL,
    database_url,
    flush_broker,
    send_privately,
    start_private_worker,
    start_worker,
    wait_for,
)

pytestmark = pytest.mark.integration


def _fresh(job):
    return type(job).objects.get(pk=job.pk)


def _finished(job, timeout=300, worker=None):
    return wait_for(lambda: _fresh(job) if _fresh(job).is_finished else None, timeout=timeout,
                    message=f"{job.kind} {job.pk} to finish" + (f"; worker log:\n{worker.log()}" if worker else ""))


@pytest.fixture
def private_broker():
    flush_broker(PRIVATE_BROKER_URL)
    yield PRIVATE_BROKER_URL
    flush_broker(PRIVATE_BROKER_URL)


def test_a_run_started_through_the_service_succeeds_in_the_worker(worker, settings):
    run = services.training_run_create(created_by=StaffFactory(), config=tiny_config(epochs=2))
    assert _fresh(run).sent_at is not None
    run = _finished(run, worker=worker)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert list(run.epochs.values_list("epoch", flat=True)) == [1, 2]
    assert run.worker_host and run.device.startswith("cpu") and run.attempts == 1
    checkpoint = run.checkpoints.order_by("-epoch").first()
    path = Path(settings.CHECKPOINT_ROOT) / checkpoint.file.name
    assert checkpoint.epoch == 2 and file_sha256(path) == checkpoint.sha256


def _manage(*args, broker_url: str = TEST_BROKER_URL) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fmnistsite.test_settings", "DATABASE_URL": database_url(),
           "TEST_BROKER_URL": broker_url}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


def test_train_command_waits_with_a_progress_bar_and_exits_0(worker):
    result = _manage("train", "--preset", "seed", "--epochs", "2", "--limit", "500", "--wait", "--poll", "0.3")
    assert result.returncode == 0, result.stdout + result.stderr
    run = TrainingRun.objects.get()
    assert f"run {run.pk} queued" in result.stdout and f"run {run.pk} succeeded" in result.stdout
    assert "val_acc" in result.stdout and "epochs" in result.stderr  # tqdm draws on stderr
    assert run.status == JobStatus.SUCCEEDED and run.epochs.count() == 2


def test_train_command_exits_non_zero_when_the_run_fails(worker):
    result = _manage("train", "--preset", "seed", "--epochs", "1", "--limit", "200", "--device", "cuda", "--wait")
    assert result.returncode != 0
    assert "failed: device 'cuda' was asked for, but this worker has no CUDA GPU" in result.stderr


def test_train_command_without_wait_returns_at_once(worker):
    started = time.monotonic()
    result = _manage("train", "--preset", "seed", "--epochs", "1", "--limit", "200")
    run = TrainingRun.objects.get()
    assert result.returncode == 0 and result.stdout.strip() == f"run {run.pk} queued (seed, 1 epoch)"
    assert time.monotonic() - started < 60
    _finished(run)


def test_staff_cancel_stops_a_running_run_in_the_worker(worker):
    staff = StaffFactory()
    run = services.training_run_create(created_by=staff, config=tiny_config(epochs=5, limit=20_000))
    wait_for(lambda: _fresh(run).progress > 0, timeout=120, message="the run to start training")
    asked = time.monotonic()
    job_services.job_cancel(job=_fresh(run), user=staff)
    run = _finished(run, timeout=60)
    assert run.status == JobStatus.CANCELLED and run.epochs_done < 5 and run.cancelled_by == staff
    assert time.monotonic() - asked < 15  # a heartbeat interval plus a batch, with room for a busy CI


def test_a_run_whose_worker_is_killed_ends_failed_after_the_sweep(transactional_db, tmp_path, private_broker):
    # Without occlusion maps: 8,000 photos with them take a worker minutes (tested elsewhere).
    quick = {"PHOTO_OCCLUSION_MAPS": "0"}
    victim = start_private_worker(tmp_path, "victim", extra_env=quick)
    try:
        run = TrainingRunFactory(config=tiny_config(epochs=3, limit=20_000).to_dict())
        send_privately(run)
        wait_for(lambda: _fresh(run).progress > 0 and _fresh(run).epochs_done == 0, timeout=120,
                 message=f"the run to be mid-epoch; worker log:\n{victim.log()}")
    finally:
        victim.kill()
    assert _fresh(run).status == JobStatus.RUNNING  # nobody is left to say otherwise
    _silent_for_long(run)
    # A worker that starts after the crash sweeps at once. Training is not started again unasked.
    successor = start_private_worker(tmp_path, "successor", extra_env=quick)
    try:
        run = wait_for(lambda: _fresh(run) if _fresh(run).status != JobStatus.RUNNING else None,
                       timeout=60, message="the sweep")
    finally:
        successor.stop()
    assert run.status == JobStatus.FAILED and "stopped responding" in run.error and run.attempts == 1


def _silent_for_long(job) -> None:
    """As if the dead worker's last heartbeat were long past the stale limit. (Shortening the
    limit instead would make a busy machine's live jobs look dead too.)"""
    type(job).objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))


def _kill_mid_job_then_finish(job, tmp_path, is_mid_job):
    """SIGKILL the worker running the job, mid-way; a successor must leave nothing running."""
    # Without occlusion maps: 8,000 photos with them take a worker minutes (tested elsewhere).
    quick = {"PHOTO_OCCLUSION_MAPS": "0"}
    victim = start_private_worker(tmp_path, "victim", extra_env=quick)
    try:
        send_privately(job)
        wait_for(lambda: is_mid_job(_fresh(job)), timeout=120, interval=0.05,
                 message=f"{job.kind} {job.pk} to be under way; worker log:\n{victim.log()}")
    finally:
        victim.kill()
    assert _fresh(job).status == JobStatus.RUNNING
    _silent_for_long(job)
    successor = start_private_worker(tmp_path, "successor", extra_env=quick)
    try:
        return _finished(job, worker=successor)
    finally:
        successor.stop()


def test_a_report_whose_worker_is_killed_is_scored_again_by_the_next_worker(transactional_db, tmp_path,
                                                                           private_broker):
    # The deepest preset, so that scoring the 10,000 test images outlasts the kill.
    report = EvaluationReportFactory(checkpoint=saved_checkpoint(preset="best"))
    report = _kill_mid_job_then_finish(report, tmp_path, lambda r: r.status == JobStatus.RUNNING and r.progress > 0)
    assert report.status == JobStatus.SUCCEEDED, report.error
    assert report.attempts == 2 and report.n_samples == 10_000 and report.error == ""


def test_a_prediction_job_whose_worker_is_killed_is_done_by_the_next_worker(transactional_db, tmp_path,
                                                                           private_broker):
    Photo.objects.bulk_create([PhotoFactory.build() for _ in range(8_000)], batch_size=1000)
    job = PredictionJob.objects.create(checkpoint=saved_checkpoint(preset="best"), scope=PredictionScope.ALL)
    job = _kill_mid_job_then_finish(job, tmp_path, lambda j: j.status == JobStatus.RUNNING and 0 < j.done < j.total)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2 and job.done == job.total == 8_000
    assert not Photo.objects.filter(predicted_label__isnull=True).exists()


def test_jobs_whose_messages_the_broker_lost_run_after_the_resend_delay(transactional_db, tmp_path, private_broker):
    """Measured on a fresh clone: a run queued while Redis lost its queue stayed "queued" for 73
    minutes through five worker starts."""
    run = TrainingRunFactory(config=tiny_config(epochs=1).to_dict())
    report = EvaluationReportFactory(checkpoint=saved_checkpoint())
    PhotoFactory.create_batch(3)
    prediction = PredictionJob.objects.create(checkpoint=saved_checkpoint())
    jobs = [run, report, prediction]
    for job in jobs:
        send_privately(job)
    flush_broker(PRIVATE_BROKER_URL)  # Redis restarted without persistence: every message is gone
    worker = start_private_worker(tmp_path, "worker", extra_env={"JOB_RESEND_AFTER_S": "3",
                                                                 "JOB_SWEEP_INTERVAL_S": "1"})
    try:
        finished = [_finished(job, worker=worker) for job in jobs]
    finally:
        worker.stop()
    for job in finished:
        assert job.status == JobStatus.SUCCEEDED, (job.kind, job.error)
        # Sent again at least once (more while it waited behind the others: each copy is
        # harmless), and claimed exactly once.
        assert job.sends >= 2 and job.attempts == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_job_started_while_redis_is_down_is_kept_and_sent_when_redis_is_back(transactional_db, tmp_path):
    port = _free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    # The web side, with nothing listening where Redis should be: a page gives a message, not a 500.
    staff = StaffFactory()
    page = _manage("shell", "--no-imports", "-c", (
        "from django.test.utils import setup_test_environment; setup_test_environment(); "
        "from django.test import Client; from django.contrib.auth import get_user_model as u; "
        f"c = Client(); c.force_login(u().objects.get(pk={staff.pk})); "
        "r = c.post('/runs/new/', {'preset': 'seed', 'epochs': '1', 'limit': '300', 'device': 'auto'}, follow=True); "
        "print(r.status_code); print(r.content.decode())"), broker_url=broker)
    assert page.returncode == 0, page.stderr
    assert page.stdout.splitlines()[0] == "200" and "can&#x27;t be reached right now" in page.stdout
    from_page = TrainingRun.objects.get()
    command = _manage("train", "--preset", "seed", "--epochs", "1", "--limit", "300", broker_url=broker)
    assert command.returncode == 0 and job_services.QUEUE_UNREACHABLE in command.stderr
    runs = list(TrainingRun.objects.order_by("pk"))
    assert [r.pk for r in runs][0] == from_page.pk and all(r.status == "queued" and r.sent_at is None for r in runs)

    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: _pings(port), timeout=20, message="redis-server to start")
        TrainingRun.objects.update(created_at=timezone.now() - timedelta(seconds=10))
        worker = start_worker(tmp_path, "worker", broker_url=broker, extra_env={"JOB_RESEND_AFTER_S": "3"})
        try:
            for run in runs:
                run = _finished(run, worker=worker)
                assert run.status == JobStatus.SUCCEEDED and run.sends == 1, run.error
        finally:
            worker.stop()
    finally:
        server.terminate()
        server.wait(timeout=30)


def _pings(port: int) -> bool:
    try:
        return redis.Redis(port=port, socket_connect_timeout=0.5).ping()
    except redis.ConnectionError:
        return False


def test_a_pool_process_killed_is_replaced_and_the_worker_goes_on(transactional_db, tmp_path, private_broker):
    """Measured on a fresh clone: a pool process killed under load was restarted and killed three
    times by Celery's 4 s start-up deadline, because it imported torch."""
    worker = start_private_worker(tmp_path, "worker")
    try:
        (child,) = worker.pool_pids()
        os.kill(child, signal.SIGKILL)
        replacement = wait_for(lambda: [p for p in worker.pool_pids() if p != child], timeout=60,
                               message=f"a new pool process; worker log:\n{worker.log()}")
        assert replacement
        run = TrainingRunFactory(config=tiny_config(epochs=1).to_dict())
        send_privately(run)
        run = _finished(run, worker=worker)
        assert run.status == JobStatus.SUCCEEDED, run.error
        assert "Timed out waiting for UP message" not in worker.log()
    finally:
        worker.stop()
