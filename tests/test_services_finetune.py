"""Fine-tunes: which photos they learn from (the train part only, frozen with a fingerprint),
the run they make, and the weights they start from."""

from io import StringIO
from pathlib import Path

import pytest
import torch
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command

from classifier.models import JobStatus, Photo, TrainingRun
from classifier.services import photos as photo_services
from classifier.services import training as training_services
from engine.checkpoints import load_checkpoint, save_checkpoint
from engine.config import FINETUNE_EPOCHS, PRESETS
from engine.model import build_model
from tests.checkpoints import saved_checkpoint
from tests.factories import TrainingRunFactory, UserFactory, real_checkpoint, tiny_config
from tests.photo_files import jpeg_bytes, upload
from worker import training_job
from worker.tasks import train_run


@pytest.fixture
def labelled_photos(plain_user):
    """Six labelled photos, three in each part, and one unlabelled photo in the train part."""
    # Items of different shapes, so that what the model sees differs from photo to photo.
    photos = [photo_services.photo_upload(file=upload(jpeg_bytes(box=(10 + 6 * i, 20, 110 - 6 * i, 140)), f"p{i}.jpg"),
                                          user=plain_user) for i in range(7)]
    assert len({p.model_input_array().tobytes() for p in photos}) == 7
    for i, photo in enumerate(photos):
        Photo.objects.filter(pk=photo.pk).update(held_out=i % 2 == 1 and i < 6)
        if i < 6:
            photo_services.photo_label_set(photo=Photo.objects.get(pk=photo.pk), label=i % 3, user=plain_user)
    return list(Photo.objects.order_by("pk"))


@pytest.fixture
def parent(db, trained_weights):
    run = TrainingRunFactory(status=JobStatus.SUCCEEDED, config=tiny_config(epochs=1).to_dict())
    return real_checkpoint(trained_weights, run=run)


def test_a_finetune_freezes_the_labelled_train_part_photos(parent, labelled_photos, staff_user):
    run = training_services.training_run_create_finetune(created_by=staff_user, parent=parent, with_photos=True)
    train_part = [p for p in labelled_photos if not p.held_out and p.label is not None]
    assert run.photo_snapshot == [[p.pk, p.label] for p in train_part] and len(train_part) == 3
    assert run.parent_checkpoint == parent and run.config["finetune_from"] == parent.pk
    assert run.config["preset"] == "seed" and run.config["epochs"] == FINETUNE_EPOCHS
    assert run.config["lr"] == pytest.approx(PRESETS["seed"].lr * PRESETS["seed"].finetune_lr_factor)
    assert len(run.photo_snapshot_fingerprint) == 64

    # The fingerprint follows the labels: relabel one photo and the next snapshot differs, while
    # the queued run keeps the label it was given.
    first, label_then = train_part[0], train_part[0].label
    photo_services.photo_label_set(photo=first, label=9, user=staff_user)
    again = training_services.training_run_create_finetune(created_by=staff_user, parent=parent, with_photos=True)
    assert again.photo_snapshot_fingerprint != run.photo_snapshot_fingerprint
    assert again.photo_snapshot[0] == [first.pk, 9]
    assert TrainingRun.objects.get(pk=run.pk).photo_snapshot[0] == [first.pk, label_then]


def test_finetunes_are_for_staff_from_succeeded_runs_with_photos_to_learn(parent, db, staff_user):
    with pytest.raises(PermissionDenied):
        training_services.training_run_create_finetune(created_by=UserFactory(), parent=parent, with_photos=False)
    with pytest.raises(ValidationError, match="no labelled photos in the train part"):
        training_services.training_run_create_finetune(created_by=staff_user, parent=parent, with_photos=True)
    parent.run.status = JobStatus.RUNNING
    parent.run.save()
    with pytest.raises(ValidationError, match="succeeded run"):
        training_services.training_run_create_finetune(created_by=staff_user, parent=parent, with_photos=False)
    assert not TrainingRun.objects.exclude(pk=parent.run_id).exists()


def test_the_finetune_trains_from_the_parent_on_train_part_photos_only(parent, labelled_photos, staff_user,
                                                                     monkeypatch, settings):
    seen = {}
    real_train = training_job.train

    def spy(config, **kwargs):
        seen.update(kwargs)
        return real_train(config, **kwargs)

    monkeypatch.setattr(training_job, "train", spy)
    run = training_services.training_run_create_finetune(created_by=staff_user, parent=parent, with_photos=True,
                                                         epochs=1, limit=512)
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error

    extra = seen["extra_train"]
    images, labels, weight = extra.images, extra.labels, extra.weight
    assert extra.balance == run.config["photo_balance"] == "class"
    train_part = [p for p in labelled_photos if not p.held_out and p.label is not None]
    held_out = [p for p in labelled_photos if p.held_out]
    assert labels.tolist() == [p.label for p in train_part] and weight == run.config["photo_weight"]
    assert [img.tobytes() for img in images] == [p.model_input_array().tobytes() for p in train_part]
    assert not {p.model_input_array().tobytes() for p in held_out} & {img.tobytes() for img in images}

    _, parent_payload = load_checkpoint(Path(settings.CHECKPOINT_ROOT) / parent.file.name)
    assert all(torch.equal(seen["init_state"][k], parent_payload["model"][k]) for k in parent_payload["model"])
    child = run.checkpoints.get()
    _, child_payload = load_checkpoint(Path(settings.CHECKPOINT_ROOT) / child.file.name)
    assert not torch.equal(child_payload["model"]["fc2.weight"], parent_payload["model"]["fc2.weight"])


def test_a_tampered_parent_checkpoint_is_refused(parent, staff_user, settings):
    run = training_services.training_run_create_finetune(created_by=staff_user, parent=parent, with_photos=False,
                                                         epochs=1, limit=256)
    path = Path(settings.CHECKPOINT_ROOT) / parent.file.name
    path.write_bytes(path.read_bytes() + b"tampered")
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and "has changed since it was written" in run.error


def test_a_parent_from_an_earlier_version_of_the_preset_is_fine_tuned_in_its_own_architecture(db, staff_user, settings):
    """Retuning a preset changes its layers; a checkpoint from before keeps training in its own."""
    parent = saved_checkpoint(preset="fast")
    path = Path(settings.CHECKPOINT_ROOT) / parent.file.name
    payload = torch.load(path, weights_only=True)
    earlier = build_model("convnet", (24, "M", 48, "M", 96, 96), "flatten")
    payload.update(layers=[24, "M", 48, "M", 96, 96], head="flatten", model=earlier.state_dict())
    parent.sha256 = save_checkpoint(path, payload)
    parent.save()
    run = training_services.training_run_create_finetune(created_by=staff_user, parent=parent, with_photos=False,
                                                         epochs=1, limit=256)
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    child = run.checkpoints.get()
    written = torch.load(Path(settings.CHECKPOINT_ROOT) / child.file.name, weights_only=True)
    assert written["layers"] == [24, "M", 48, "M", 96, 96] and written["head"] == "flatten"
    assert written["config"]["layers"] == [24, "M", 48, "M", 96, 96]
    moved = [k for k in earlier.state_dict() if not torch.equal(written["model"][k], earlier.state_dict()[k])]
    assert moved, "the fine-tune started from the parent's weights and trained them"


def test_a_photo_deleted_after_queueing_fails_the_run_clearly(parent, labelled_photos, staff_user):
    run = training_services.training_run_create_finetune(created_by=staff_user, parent=parent, with_photos=True,
                                                         epochs=1, limit=256)
    gone = run.photo_snapshot[0][0]
    photo_services.photos_delete(photos=Photo.objects.filter(pk=gone))
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and f"{gone}" in run.error and "gone or held out" in run.error


def test_train_command_queues_a_finetune_with_photos(parent, labelled_photos, sent_tasks):
    out = StringIO()
    call_command("train", "--finetune-from", str(parent.pk), "--with-photos", "--epochs", "2", stdout=out)
    run = TrainingRun.objects.exclude(pk=parent.run_id).get()
    assert out.getvalue().strip() == (f"run {run.pk} queued (seed, 2 epochs, fine-tune of checkpoint {parent.pk}, "
                                      "3 photos)")
    with pytest.raises(CommandError, match="--with-photos needs --finetune-from"):
        call_command("train", "--with-photos", stdout=StringIO())
    with pytest.raises(CommandError, match="no checkpoint 999"):
        call_command("train", "--finetune-from", "999", stdout=StringIO())
