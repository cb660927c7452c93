"""Possibly mislabelled photos: the job's ranking, the out-of-sample rule, the command's JSON."""

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from classifier.models import JobStatus, LabelIssueJob, LabelScore, Photo
from classifier.selectors import label_issues as label_issue_selectors
from classifier.services import label_issues as label_issue_services
from classifier.services import photos as photo_services
from dataset.classes import CLASS_NAMES
from dataset.eval_sets import fmnist_test_set
from engine.label_issues import OutOfSampleViolation, check_out_of_sample, label_quality
from tests.factories import PhotoFactory, StaffFactory, TrainingRunFactory, real_checkpoint, tiny_config
from worker.jobs import run_job
from worker.label_issues_job import find_and_record

pytestmark = pytest.mark.django_db

TROUSER, DRESS, SNEAKER, BAG, ANKLE_BOOT = 1, 3, 7, 8, 9


@pytest.fixture(scope="session")
def decent_weights(tmp_path_factory):
    """A real checkpoint good enough to have opinions: the seed model, one epoch on 6,000 images."""
    from dataset.fashion_mnist import training_data
    from engine.training import train

    config = tiny_config(epochs=1, limit=6000, batch_size=128)
    data = training_data(val_size=config.val_size, seed=config.seed, limit=config.limit)
    folder = tmp_path_factory.mktemp("decent")
    train(config, train_images=data.train_images, train_labels=data.train_labels,
          val_images=data.val_images, val_labels=data.val_labels, checkpoint_dir=folder)
    return folder / "epoch-001.pt"


def _labelled_photos(per_class: int, planted: dict[int, int], offset: int = 0) -> tuple[list[Photo], dict[int, int]]:
    """Fashion-MNIST test images as labelled photos, `per_class` of each class, labelled right
    except the i-th photo of `planted` (i -> wrong label). Returns the photos and {photo id: planted label}."""
    test = fmnist_test_set()
    user = StaffFactory()
    chosen = [int(i) for c in range(10) for i in np.flatnonzero(test.labels == c)[offset:offset + per_class]]
    chosen.sort()
    photos, errors = [], {}
    for n, index in enumerate(chosen):
        photo = PhotoFactory(model_input=test.images[index].tobytes())
        label = planted.get(n, int(test.labels[index]))
        if n in planted:
            errors[photo.pk] = label
        photo_services.photo_label_set(photo=photo, label=label, user=user, source="test")
        photos.append(photo)
    return photos, errors


def _plant_far_off(per_class: int) -> dict[int, int]:
    """Two far-off errors: the first trouser labelled ankle boot, the first bag labelled trouser."""
    test = fmnist_test_set()
    chosen = sorted(int(i) for c in range(10) for i in np.flatnonzero(test.labels == c)[:per_class])
    first = {c: next(n for n, i in enumerate(chosen) if test.labels[i] == c) for c in (TROUSER, BAG)}
    return {first[TROUSER]: ANKLE_BOOT, first[BAG]: TROUSER}


def _run(job: LabelIssueJob) -> LabelIssueJob:
    done = run_job(LabelIssueJob, job.pk, find_and_record)
    assert done.status == JobStatus.SUCCEEDED, done.error
    return done


def test_far_off_errors_rank_above_every_correct_label(decent_weights):
    model = real_checkpoint(decent_weights)
    photos, errors = _labelled_photos(5, _plant_far_off(5))
    job = _run(label_issue_services.label_issues_find(user=None, checkpoint=model, enqueue=False))
    ranked = list(LabelScore.objects.filter(job=job).order_by("-score"))
    assert len(ranked) == len(photos) == job.total == 50
    assert {s.photo_id for s in ranked[:2]} == set(errors)
    assert all(s.is_issue for s in ranked[:2])
    trouser = next(s for s in ranked if errors.get(s.photo_id) == ANKLE_BOOT)
    assert (trouser.label, trouser.suspected) == (ANKLE_BOOT, TROUSER)
    assert trouser.score > 0.9 and trouser.label_probability < 0.05
    # Scored by the model itself: it never trained on any photo.
    assert {s.scored_by for s in ranked} == {f"checkpoint #{model.pk}"}


def test_no_photo_is_scored_by_a_model_that_trained_on_it(decent_weights):
    base = real_checkpoint(decent_weights)
    photos, _ = _labelled_photos(3, {})
    learnt = [p.pk for p in photos[:16]]
    # A fine-tune of the base that learnt from 16 of the 30 photos; the same weights will do: the
    # rule is about which model may score which photo.
    finetune = TrainingRunFactory(status=JobStatus.SUCCEEDED, parent_checkpoint=base,
                                  config=tiny_config(finetune_from=base.pk, with_photos=True).to_dict(),
                                  photo_snapshot=[[pk, Photo.objects.get(pk=pk).label] for pk in learnt])
    model = real_checkpoint(decent_weights, run=finetune)
    job = _run(label_issue_services.label_issues_find(user=None, checkpoint=model, folds=2, enqueue=False))
    assert job.base_checkpoint_id == base.pk
    scores = {s.photo_id: s for s in job.scores.all()}
    assert set(scores) == {p.pk for p in photos}
    for pk, score in scores.items():
        if pk in learnt:
            assert score.scored_by.startswith("fold ") and f"fine-tune of checkpoint #{base.pk}" in score.scored_by
        else:
            assert score.scored_by == f"checkpoint #{model.pk}"
    # The job's record of what each model trained on and scored: never both.
    assert sorted(pk for source in job.sources for pk in source["scored"]) == sorted(scores)
    for source in job.sources:
        assert not set(source["scored"]) & set(source["trained_on"]), source["model"]
        for pk in source["scored"]:
            assert scores[pk].scored_by == source["model"]
    folds = [s for s in job.sources if s["model"].startswith("fold ")]
    assert len(folds) == 2 and all(set(f["trained_on"]) <= set(learnt) and f["trained_on"] for f in folds)


def test_without_folds_the_base_model_scores_what_the_fine_tune_learnt(decent_weights):
    base = real_checkpoint(decent_weights)
    photos, _ = _labelled_photos(1, {})
    learnt = [p.pk for p in photos[:4]]
    middle_run = TrainingRunFactory(status=JobStatus.SUCCEEDED, parent_checkpoint=base,
                                    photo_snapshot=[[pk, 0] for pk in learnt[:2]])
    middle = real_checkpoint(decent_weights, run=middle_run)
    top_run = TrainingRunFactory(status=JobStatus.SUCCEEDED, parent_checkpoint=middle,
                                 photo_snapshot=[[pk, 0] for pk in learnt])
    model = real_checkpoint(decent_weights, run=top_run)
    job = _run(label_issue_services.label_issues_find(user=None, checkpoint=model, folds=0, enqueue=False))
    # The middle checkpoint learnt two of these photos: only the base never saw any of them.
    assert job.base_checkpoint_id == base.pk
    by = dict(job.scores.values_list("photo_id", "scored_by"))
    assert {by[pk] for pk in learnt} == {f"checkpoint #{base.pk} (the base model)"}


def test_a_line_where_every_model_saw_the_photos_is_refused(decent_weights):
    photos, _ = _labelled_photos(1, {})
    run = TrainingRunFactory(status=JobStatus.SUCCEEDED, photo_snapshot=[[photos[0].pk, 0]])
    model = real_checkpoint(decent_weights, run=run)
    job = run_job(LabelIssueJob, label_issue_services.label_issues_find(user=None, checkpoint=model,
                                                                        enqueue=False).pk, find_and_record)
    assert job.status == JobStatus.FAILED and "nothing could score them out of sample" in job.error
    assert not LabelScore.objects.exists()


def test_the_guard_refuses_a_model_scoring_what_it_trained_on():
    check_out_of_sample(scored=[1, 2], trained_on={3}, model="m")
    with pytest.raises(OutOfSampleViolation, match="m trained on 1 of the photos"):
        check_out_of_sample(scored=[1, 2], trained_on={2, 3}, model="m")


def test_label_quality_flags_the_label_another_class_beats():
    probabilities = np.full((4, 10), 0.01)
    probabilities[[0, 1, 2, 3], [0, 0, 1, 5]] = 0.91
    quality = label_quality(np.array([0, 0, 1, 1]), probabilities / probabilities.sum(1, keepdims=True))
    assert list(quality.is_issue) == [False, False, False, True]
    assert quality.suspected[3] == 5 and quality.score[3] > 0.9 > 0.1 > quality.score[0]


def test_the_command_writes_the_suspects_most_suspect_first(decent_weights, tmp_path):
    model = real_checkpoint(decent_weights)
    _photos, errors = _labelled_photos(5, _plant_far_off(5))
    out, err = StringIO(), StringIO()
    path = tmp_path / "suspects.json"
    call_command("label_issues", "--checkpoint", str(model.pk), "--json", str(path), stdout=out, stderr=err)
    rows = json.loads(path.read_text())
    assert rows and all(set(row) == {"photo", "label", "suspected", "score"} for row in rows)
    assert [row["score"] for row in rows] == sorted((row["score"] for row in rows), reverse=True)
    assert {row["photo"] for row in rows[:2]} == set(errors)
    assert rows[0]["label"] in CLASS_NAMES and rows[0]["suspected"] in CLASS_NAMES
    assert len(rows) == LabelScore.objects.filter(is_issue=True).count()
    assert "100/100" in err.getvalue()  # the progress bar
    assert f"{len(rows)} suspects written" in out.getvalue()

    # Confirming one, and fixing another, takes them off the list.
    first, second = (Photo.objects.get(pk=row["photo"]) for row in rows[:2])
    photo_services.photo_label_confirm(photo=first, user=None, source="test")
    photo_services.photo_label_set(photo=second, label=CLASS_NAMES.index(rows[1]["suspected"]), user=None)
    job = label_issue_selectors.label_issue_job_latest()
    left = {s.photo_id for s in label_issue_selectors.label_suspects(job=job)}
    assert left == {row["photo"] for row in rows[2:]}
