"""The gallery at scale: pages of photos, a constant number of queries, live updates of changed cards only."""

import pytest
from django.urls import reverse

from classifier.models import Photo, Tag
from tests.factories import LabelCorrectionFactory, PhotoFactory

pytestmark = pytest.mark.django_db


def _photos(n: int) -> list[Photo]:
    photos = PhotoFactory.create_batch(n, source="shop")
    for photo in photos[::3]:
        LabelCorrectionFactory(photo=photo)
        photo.tags.add(Tag.objects.get_or_create(name=f"tag{photo.pk % 5}")[0])
    return photos


@pytest.mark.parametrize("n", [3, 70])
def test_the_gallery_costs_the_same_queries_for_3_photos_as_for_70(user_client, n, django_assert_max_num_queries):
    _photos(n)
    with django_assert_max_num_queries(1):
        response = user_client.get(reverse("photo_gallery"), {"order": "useful"})
    assert response.status_code == 200
