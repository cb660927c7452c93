from tests.worker_fixtures import live_worker, worker  # noqa: F401
