"""Start a real `celery -A worker worker` process against the real Redis, for integration
and browser tests. It shares the test database (a file, or PostgreSQL) with the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parent.parent
# fmnistsite.test_settings gives tests a Redis database of their own (TEST_BROKER_URL), so
# they never meet a developer's queue; the session's worker consumes it. Tests that start
# workers of their own (to kill them, say) give them another database, so that the session's
# worker never takes their jobs.
TEST_BROKER_URL = settings.CELERY_BROKER_URL
PRIVATE_BROKER_URL = os.environ.get("TEST_PRIVATE_BROKER_URL", TEST_BROKER_URL.rsplit("/", 1)[0] + "/14")


def database_url() -> str:
    """The URL of the database the test runner is using right now (the test database)."""
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    if "postgresql" in s["ENGINE"]:
        auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "") + "@" if s.get("USER") else ""
        return f"postgres://{auth}{s.get('HOST') or 'localhost'}:{s.get('PORT') or 5432}/{s['NAME']}"
    raise RuntimeError(f"integration tests don't know how to share {s['ENGINE']}")


def flush_broker(url: str = TEST_BROKER_URL) -> None:
    redis.Redis.from_url(url).flushdb()


def send_privately(job, broker_url: str = PRIVATE_BROKER_URL) -> None:
    """Send a job's message, by its task name, to a broker of the test's own, through a Celery
    app of its own (the project's app talks to the session's broker), as job_send would: with
    the project's queues and routes (a run to `gpu`, a prediction job to `celery`)."""
    from celery import Celery
    from django.utils import timezone

    with Celery() as sender:
        sender.config_from_object("django.conf:settings", namespace="CELERY")
        sender.conf.broker_url = broker_url
        sender.send_task(job.task_name, args=[job.pk])
    type(job).objects.filter(pk=job.pk).update(sent_at=timezone.now(), sends=1)


class WorkerProcess:
    def __init__(self, *, media_root: Path, checkpoint_root: Path, log_path: Path, extra_env: dict | None = None,
                 queue: str = "celery,gpu", broker_url: str = TEST_BROKER_URL):
        env = dict(os.environ)
        env.update({
            "DJANGO_SETTINGS_MODULE": "fmnistsite.test_settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url,
            "TEST_BROKER_URL": broker_url,
            "MEDIA_ROOT": str(media_root),
            "CHECKPOINT_ROOT": str(checkpoint_root),
            # Its own disk: scratch for the checkpoints it trains, and its cache of fetched ones.
            "CHECKPOINT_CACHE_DIR": str(log_path.parent / f"{log_path.stem}-cache"),
            "PYTHONUNBUFFERED": "1",
        })
        env.update(extra_env or {})
        self.log_path = log_path
        self._log = open(log_path, "wb")
        # Its own process group, so a test can kill the worker and its pool child together,
        # the way a machine dying would.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker", "worker", "--concurrency", "1",
             "--loglevel", "info", "--without-mingle", "--without-gossip", "-Q", queue, "-n", f"test{os.getpid()}-%h-{time.time_ns()}"],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def pool_pids(self) -> list[int]:
        """The worker's pool processes: its children, found by their parent in /proc."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # pid (comm) state ppid ...; comm may hold spaces, so split after its ')'.
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return children

    def kill(self) -> None:
        """SIGKILL the whole group: no cleanup, no goodbye, like a lost machine."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def start_private_worker(tmp_dir: Path, name: str, **kwargs) -> WorkerProcess:
    """A worker of the test's own, on PRIVATE_BROKER_URL (see send_privately)."""
    return start_worker(tmp_dir, name, broker_url=PRIVATE_BROKER_URL, **kwargs)


def start_worker(tmp_dir: Path, name: str = "worker", **kwargs) -> WorkerProcess:
    worker = WorkerProcess(media_root=Path(settings.MEDIA_ROOT), checkpoint_root=Path(settings.CHECKPOINT_ROOT),
                           log_path=tmp_dir / f"{name}.log", **kwargs)
    worker.wait_ready()
    return worker


def wait_for(predicate, *, timeout: float, interval: float = 0.25, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {message}")
