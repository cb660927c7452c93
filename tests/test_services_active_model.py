"""The active model predicts photos; a newer checkpoint gives a second opinion; the review queue
can put the photos most worth labelling first."""

from django.utils import timezone

from classifier.models import EvaluationReport, JobStatus, Photo, PredictionJob, PredictionScope, PredictionTarget
from classifier.selectors.photos import GalleryFilters, checkpoint_for_prediction, photos_for_gallery
from classifier.selectors.promotions import prediction_choice
from classifier.services import photos as photo_services
from classifier.services.promotions import checkpoint_promote
from tests.checkpoints import saved_checkpoint
from tests.factories import CheckpointFactory, TrainingRunFactory, tiny_config
from tests.photo_files import jpeg_bytes, upload
from worker.tasks import predict_photos, train_run


def _photos(user, n=3):
    return [photo_services.photo_upload(file=upload(jpeg_bytes(colour=(40 * i, 10, 10)), f"p{i}.jpg"), user=user)
            for i in range(n)]


def test_prediction_uses_the_active_model_once_one_is_promoted(db, staff_user, plain_user, settings,
                                                            django_capture_on_commit_callbacks, sent_tasks):
    older, newer = saved_checkpoint(seed=1, val_acc=0.6), saved_checkpoint(seed=2, val_acc=0.8)
    assert checkpoint_for_prediction() == newer  # nobody promoted: the best by validation accuracy
    _photos(plain_user)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_promote(checkpoint=older, user=staff_user, reason="the older one is better on photos",
                           acknowledge_warnings=True)
    assert checkpoint_for_prediction() == older
    job = PredictionJob.objects.get(pk=sent_tasks[-1][1])  # promotion redoes every photo with the new model
    assert job.checkpoint == older and job.scope == PredictionScope.ALL and job.target == PredictionTarget.ACTIVE
    with django_capture_on_commit_callbacks(execute=True):
        new_job = photo_services.photos_predict_new(user=plain_user)
    assert new_job.checkpoint == older


def test_before_any_promotion_the_best_checkpoint_by_validation_accuracy_predicts_not_the_newest(db, staff_user):
    best = CheckpointFactory(val_acc=0.93)
    CheckpointFactory(val_acc=0.90)  # a newer run, worse
    CheckpointFactory(val_acc=0.99, run=TrainingRunFactory(status=JobStatus.FAILED))  # not succeeded
    CheckpointFactory(val_acc=0.98, run=TrainingRunFactory(status=JobStatus.SUCCEEDED,
                                                           archived_at=timezone.now()))  # put away by its owner
    choice = prediction_choice()
    assert choice.checkpoint == best == checkpoint_for_prediction() and not choice.promoted
    tie = CheckpointFactory(val_acc=0.93, val_loss=0.4)  # as accurate, lower loss
    assert checkpoint_for_prediction() == tie


def test_a_run_whose_checkpoint_becomes_the_best_predicts_every_photo_else_gives_a_second_opinion(
        db, plain_user, sent_tasks, django_capture_on_commit_callbacks):
    _photos(plain_user, 1)
    best = CheckpointFactory(val_acc=0.9)
    worse = CheckpointFactory(val_acc=0.7)
    with django_capture_on_commit_callbacks(execute=True):
        assert photo_services.photos_predict_candidate(checkpoint=best).target == PredictionTarget.ACTIVE
        assert photo_services.photos_predict_candidate(checkpoint=worse).target == PredictionTarget.CANDIDATE
    assert [name for name, _ in sent_tasks] == ["worker.tasks.predict_photos"] * 2


def test_a_second_opinion_fills_only_the_candidate_fields(db, plain_user):
    active, newest = saved_checkpoint(seed=1), saved_checkpoint(seed=2)
    photos = _photos(plain_user)
    predict_photos(PredictionJob.objects.create(checkpoint=active, scope=PredictionScope.ALL).pk)
    before = {p.pk: (p.predicted_label, p.confidence) for p in Photo.objects.all()}
    job = PredictionJob.objects.create(checkpoint=newest, scope=PredictionScope.ALL, target=PredictionTarget.CANDIDATE)
    predict_photos(job.pk)
    for photo in Photo.objects.filter(pk__in=[p.pk for p in photos]):
        assert (photo.predicted_label, photo.confidence) == before[photo.pk] and photo.predicted_by == active
        assert photo.candidate_by == newest and photo.candidate_label is not None
        assert 0 < photo.candidate_confidence <= 1


def test_most_useful_puts_unlabelled_disagreements_and_doubts_first(db, plain_user):
    a, b, c, d = _photos(plain_user, 4)
    Photo.objects.filter(pk=a.pk).update(predicted_label=1, confidence=0.95, candidate_label=1)  # sure, agreed
    Photo.objects.filter(pk=b.pk).update(predicted_label=1, confidence=0.90, candidate_label=6)  # disagreement
    Photo.objects.filter(pk=c.pk).update(predicted_label=2, confidence=0.40, candidate_label=2)  # unsure
    Photo.objects.filter(pk=d.pk).update(predicted_label=6, confidence=0.10, label=6)  # labelled already
    order = list(photos_for_gallery(filters=GalleryFilters(order="useful")).values_list("pk", flat=True))
    assert order == [b.pk, c.pk, a.pk, d.pk]


def test_a_succeeded_run_queues_both_scorecard_reports_and_a_second_opinion(db, plain_user, settings, sent_tasks,
                                                                           django_capture_on_commit_callbacks,
                                                                           staff_user):
    active = saved_checkpoint(seed=1)
    photos = _photos(plain_user, 4)
    Photo.objects.filter(pk=photos[0].pk).update(held_out=True, label=0)
    checkpoint_promote(checkpoint=active, user=staff_user, reason="base", acknowledge_warnings=True)
    run = TrainingRunFactory(config=tiny_config(epochs=1).to_dict())
    with django_capture_on_commit_callbacks(execute=True):
        train_run(run.pk)
    reports = EvaluationReport.objects.filter(run=run)
    assert sorted(reports.values_list("dataset_name", flat=True)) == ["fmnist-test", "photos"]
    candidate = PredictionJob.objects.get(target=PredictionTarget.CANDIDATE)
    assert candidate.checkpoint.run == run and ("worker.tasks.predict_photos", candidate.pk) in sent_tasks


def test_without_held_out_labels_only_the_test_set_report_is_queued(db):
    run = TrainingRunFactory(config=tiny_config(epochs=1).to_dict())
    train_run(run.pk)
    assert list(EvaluationReport.objects.filter(run=run).values_list("dataset_name", flat=True)) == ["fmnist-test"]
    assert not PredictionJob.objects.exists()  # no photos: no second opinion
