"""Fixtures for tests that need a real worker (integration and browser tests)."""

import pytest

from tests.workers import flush_broker, start_worker


@pytest.fixture(scope="session")
def live_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """One real worker for the session, consuming both queues (`celery`, `gpu`) of the test Redis db."""
    from django.conf import settings

    root = tmp_path_factory.mktemp("worker")
    with django_db_blocker.unblock():
        flush_broker()
        old = settings.MEDIA_ROOT, settings.CHECKPOINT_ROOT
        settings.MEDIA_ROOT, settings.CHECKPOINT_ROOT = root / "media", root / "checkpoints"
        try:
            # It doesn't sweep while the session lasts: a test that kills a worker or stops Redis
            # must see only its own workers settle its jobs, never this one (which can't reach
            # that test's files).
            worker = start_worker(root, extra_env={"JOB_SWEEP_INTERVAL_S": "0"})
        finally:
            settings.MEDIA_ROOT, settings.CHECKPOINT_ROOT = old
    worker.media_root, worker.checkpoint_root = root / "media", root / "checkpoints"
    yield worker
    worker.stop()


@pytest.fixture
def worker(live_worker, transactional_db, settings):
    """The session's worker, with this test's settings pointing at the same files."""
    settings.MEDIA_ROOT, settings.CHECKPOINT_ROOT = live_worker.media_root, live_worker.checkpoint_root
    return live_worker
