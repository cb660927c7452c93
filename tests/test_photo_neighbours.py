"""Previous/next on the photo page: the gallery view's own order, by keyset, in a few queries."""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from classifier.models import JobStatus, LabelIssueJob, LabelScore, Photo
from classifier.selectors.photos import ORDER_CHOICES, GalleryFilters, photo_neighbours, photos_for_gallery
from tests.factories import PhotoFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def photos():
    """Photos with every awkward case the orders meet: no prediction (null confidence), equal
    confidences, equal upload times, labelled and not, models that disagree, scored and not."""
    rng = random.Random(7)
    start = timezone.now() - timedelta(days=1)
    made = []
    for i in range(40):
        predicted = rng.choice([None, 1, 2, 3])
        made.append(PhotoFactory(
            created_at=start + timedelta(minutes=i // 3),  # threes share a time
            predicted_label=predicted, confidence=None if predicted is None else rng.choice([0.2, 0.5, 0.5, 0.9]),
            candidate_label=None if predicted is None else rng.choice([predicted, 4]),
            label=(label := rng.choice([None, None, 1, 2])), labelled_at=start if label is not None else None))
    job = LabelIssueJob.objects.create(status=JobStatus.SUCCEEDED, started_at=timezone.now(), finished_at=timezone.now())
    for photo in made:
        if photo.label is not None and rng.random() < 0.7:
            LabelScore.objects.create(job=job, photo=photo, label=photo.label, suspected=5, score=rng.choice([0.1, 0.6]),
                                      label_probability=0.3, is_issue=True, scored_by="test")
    return made


VIEWS = [GalleryFilters(order=order) for order in ORDER_CHOICES] + [
    GalleryFilters(show="unlabelled", order="useful"), GalleryFilters(show="labelled", order="-confidence"),
    GalleryFilters(show="suspects", order="suspicion"), GalleryFilters(predicted=2, order="confidence"),
]


@pytest.mark.parametrize("filters", VIEWS, ids=lambda f: f"{f.show}-{f.order}")
def test_previous_and_next_follow_the_gallery_order_exactly(photos, filters):
    order = list(photos_for_gallery(filters=filters).values_list("pk", flat=True))
    everything = list(photos_for_gallery(filters=GalleryFilters(order=filters.order)).values_list("pk", flat=True))
    assert len(order) >= 3
    for photo in photos:
        found = photo_neighbours(photo_id=photo.pk, filters=filters)
        assert found.count == len(order)
        if photo.pk in order:
            i = order.index(photo.pk)
            assert found.position == i + 1
            assert found.previous == (order[i - 1] if i > 0 else None)
            assert found.next == (order[i + 1] if i + 1 < len(order) else None)
        else:  # no longer in the view: its neighbours are where it would stand
            assert found.position is None
            before = [pk for pk in everything[:everything.index(photo.pk)] if pk in order]
            after = [pk for pk in everything[everything.index(photo.pk) + 1:] if pk in order]
            assert found.previous == (before[-1] if before else None)
            assert found.next == (after[0] if after else None)


def test_walking_next_visits_every_photo_once_in_order(photos):
    filters = GalleryFilters(order="useful")
    order = list(photos_for_gallery(filters=filters).values_list("pk", flat=True))
    walked, current = [order[0]], order[0]
    while (current := photo_neighbours(photo_id=current, filters=filters).next) is not None:
        walked.append(current)
    assert walked == order


def test_it_costs_the_same_few_queries_for_40_photos_as_for_400(photos):
    Photo.objects.bulk_create([PhotoFactory.build(confidence=0.5) for _ in range(360)])
    filters = GalleryFilters(show="labelled", order="suspicion")
    middle = photos[20].pk
    with CaptureQueriesContext(connection) as queries:
        photo_neighbours(photo_id=middle, filters=filters)
    assert len(queries) <= 6, [q["sql"] for q in queries]
