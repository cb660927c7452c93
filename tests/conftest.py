import pytest

from tests.factories import StaffFactory, UserFactory
# Declared here, once, so that browser and integration tests share one session worker: two
# would both consume the test queue, and a job could land in the other one's folders.
from tests.worker_fixtures import live_worker, worker  # noqa: F401


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    """Every test writes media and checkpoints under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CHECKPOINT_ROOT = tmp_path / "checkpoints"


@pytest.fixture
def staff_user(db):
    return StaffFactory()


@pytest.fixture
def plain_user(db):
    return UserFactory()


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def user_client(client, plain_user):
    client.force_login(plain_user)
    return client
