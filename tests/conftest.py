"""Fixtures every test folder shares."""

import pytest

from tests.factories import StaffFactory, UserFactory

# A real S3 server on loopback, and this process's files in its bucket (tests of object storage).
from tests.s3_server import s3, web_on_the_bucket  # noqa: F401

# Declared here, once, so integration and browser tests share one session worker. Declared in
# each folder's conftest they were two fixtures, hence two workers with different checkpoint
# folders on one queue: a run trained by one could be evaluated by the other, which lacked its file.
from tests.worker_fixtures import live_worker, worker  # noqa: F401


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    """Every test writes media and checkpoints (and a worker's scratch and cache) under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CHECKPOINT_ROOT = tmp_path / "checkpoints"
    settings.CHECKPOINT_CACHE_DIR = tmp_path / "checkpoint-cache"


@pytest.fixture
def sent_tasks(monkeypatch):
    """What jobs send to the queue, as (task name, job id), recorded here instead of reaching
    Redis; job_send runs as in production otherwise (sent_at and sends are recorded). With
    the `db` fixture, sends happen inside django_capture_on_commit_callbacks(execute=True)."""
    from fmnistsite.celery import app

    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args=(), **_options: sent.append((name, args[0])))
    return sent


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


@pytest.fixture(scope="session")
def trained_weights(tmp_path_factory):
    """A real checkpoint file, trained once per session: one epoch of the seed model on 512 images."""
    from dataset.fashion_mnist import training_data
    from engine.training import train
    from tests.factories import tiny_config

    config = tiny_config(epochs=1)
    data = training_data(val_size=config.val_size, seed=config.seed, limit=config.limit)
    folder = tmp_path_factory.mktemp("trained")
    train(config, train_images=data.train_images, train_labels=data.train_labels,
                 val_images=data.val_images, val_labels=data.val_labels, checkpoint_dir=folder)
    return folder / "epoch-001.pt"


SMALL_TEST_SET_SIZE = 500


@pytest.fixture
def small_test_set(monkeypatch):
    """fmnist-test cut to its first 500 images, so evaluations in unit tests take a moment."""
    from classifier.services import evaluation
    from dataset.eval_sets import EvalSet, fingerprint_of, fmnist_test_set

    full = fmnist_test_set()
    n = SMALL_TEST_SET_SIZE
    small = EvalSet(name=full.name, images=full.images[:n], labels=full.labels[:n],
                    fingerprint=fingerprint_of(full.images[:n], full.labels[:n]), sample_keys=full.sample_keys[:n])
    real_resolve = evaluation.evaluation_dataset_resolve
    monkeypatch.setattr(evaluation, "evaluation_dataset_resolve",
                        lambda name, **options: small if name == full.name else real_resolve(name, **options))
    return small
