"""Queues for the hardware, with real workers: training and evaluation go to `gpu`, photo
prediction to the default queue `celery`; a GPU worker's main process never touches CUDA, so
its prefork pool (which keeps the time limits working) is safe to fork."""

from __future__ import annotations

import os
import textwrap

import pytest

from classifier.models import EvaluationReport, JobStatus, PredictionJob, TrainingRun
from fmnistsite.celery import app
from tests.checkpoints import saved_checkpoint
from tests.factories import EvaluationReportFactory, PhotoFactory, TrainingRunFactory, tiny_config
from tests.workers import PRIVATE_BROKER_URL, WorkerProcess, flush_broker, send_privately, wait_for


def test_each_kind_of_job_is_routed_by_its_task_name():
    queue = {model: app.amqp.router.route({}, model.task_name)["queue"].name
             for model in (TrainingRun, EvaluationReport, PredictionJob)}
    assert queue == {TrainingRun: "gpu", EvaluationReport: "gpu", PredictionJob: "celery"}
    assert app.amqp.router.route({}, "worker.tasks.sweep_jobs")["queue"].name == "celery"


@pytest.fixture
def private_broker():
    flush_broker(PRIVATE_BROKER_URL)
    yield
    flush_broker(PRIVATE_BROKER_URL)


def _worker(tmp_path, name: str, queue: str, **env) -> WorkerProcess:
    worker = WorkerProcess(media_root=tmp_path / "media", checkpoint_root=tmp_path / "checkpoints",
                           log_path=tmp_path / f"{name}.log", queue=queue, broker_url=PRIVATE_BROKER_URL, extra_env=env)
    worker.wait_ready()
    return worker


def _finished(job, *workers):
    model = type(job)
    logs = "\n".join(w.log() for w in workers)
    return wait_for(lambda: model.objects.get(pk=job.pk) if model.objects.get(pk=job.pk).is_finished else None,
                    timeout=300, message=f"{job.kind} {job.pk} to finish; logs:\n{logs}")


@pytest.mark.integration
def test_a_gpu_worker_takes_training_and_evaluation_and_a_cpu_worker_the_photos(
        transactional_db, tmp_path, settings, private_broker):
    gpu = _worker(tmp_path, "gpu-host", "gpu")
    cpu = _worker(tmp_path, "cpu-host", "celery")
    try:
        settings.MEDIA_ROOT, settings.CHECKPOINT_ROOT = tmp_path / "media", tmp_path / "checkpoints"
        gpu_pids, cpu_pids = set(gpu.pool_pids()), set(cpu.pool_pids())
        run = TrainingRunFactory(config=tiny_config(epochs=1).to_dict())
        report = EvaluationReportFactory(checkpoint=saved_checkpoint())
        PhotoFactory.create_batch(3)
        prediction = PredictionJob.objects.create(checkpoint=saved_checkpoint())
        for job in (prediction, run, report):
            send_privately(job)
        done = {job.kind: _finished(job, gpu, cpu) for job in (run, report, prediction)}
    finally:
        gpu.stop()
        cpu.stop()
    gpu_log, cpu_log = gpu.log_path.read_text(), cpu.log_path.read_text()
    for job in done.values():
        assert job.status == JobStatus.SUCCEEDED and job.attempts == 1, (job.kind, job.error)

    def pid(job) -> int:
        return int(job.worker_host.rsplit("pid ", 1)[1].rstrip(")"))

    assert pid(done["run"]) in gpu_pids and pid(done["report"]) in gpu_pids
    assert pid(done["prediction"]) in cpu_pids
    # Each message reached one queue only: the CPU worker never saw a run, the GPU worker no photos.
    received = {name: {"gpu": f"Task {name}[" in gpu_log, "cpu": f"Task {name}[" in cpu_log}
                for name in (TrainingRun.task_name, EvaluationReport.task_name, PredictionJob.task_name)}
    assert received == {TrainingRun.task_name: {"gpu": True, "cpu": False},
                        EvaluationReport.task_name: {"gpu": True, "cpu": False},
                        PredictionJob.task_name: {"gpu": False, "cpu": True}}


SPY = textwrap.dedent("""
    # Loaded by every Python process of this test's worker: records which process asks CUDA
    # anything (cudaGetDeviceCount initialises the driver; _lazy_init creates the context).
    import os, torch, torch.cuda
    def _spy(name, real):
        def spy(*args, **kwargs):
            with open(os.environ["CUDA_SPY_LOG"], "a") as log:
                log.write(f"{os.getpid()} {name}\\n")
            return real(*args, **kwargs)
        return spy
    torch._C._cuda_getDeviceCount = _spy("getDeviceCount", torch._C._cuda_getDeviceCount)
    torch.cuda._lazy_init = _spy("lazy_init", torch.cuda._lazy_init)
""")


@pytest.mark.integration
def test_a_gpu_worker_s_main_process_never_touches_cuda(transactional_db, tmp_path, settings, private_broker):
    """Forking after CUDA is initialised breaks CUDA in the children; the solo pool would avoid
    that but loses the hard time limit. So the main process must never ask CUDA anything."""
    spy_dir = tmp_path / "spy"
    spy_dir.mkdir()
    (spy_dir / "sitecustomize.py").write_text(SPY)
    log = tmp_path / "cuda-calls.log"
    log.touch()
    python_path = os.pathsep.join(filter(None, [str(spy_dir), os.environ.get("PYTHONPATH")]))
    gpu = _worker(tmp_path, "gpu-host", "gpu", PYTHONPATH=python_path, CUDA_SPY_LOG=str(log))
    try:
        settings.MEDIA_ROOT, settings.CHECKPOINT_ROOT = tmp_path / "media", tmp_path / "checkpoints"
        run = TrainingRunFactory(config=tiny_config(epochs=1).to_dict())
        send_privately(run)
        assert _finished(run, gpu).status == JobStatus.SUCCEEDED
        main, children = gpu.process.pid, set(gpu.pool_pids())
    finally:
        gpu.stop()
    callers = {int(line.split()[0]) for line in log.read_text().splitlines()}
    assert callers & children, "the spy saw no CUDA call at all: it is not working"  # pick_device in the child
    assert main not in callers
