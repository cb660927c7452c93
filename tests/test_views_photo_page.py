"""The photo page: previous/next in the gallery view it was opened from, which checkpoint
predicts photos and why, and a wrong prediction said in words."""

import re

import pytest
from django.urls import reverse

from classifier.models import Photo
from tests.factories import CheckpointFactory, PhotoFactory, PromotionFactory, TrainingRunFactory

pytestmark = pytest.mark.django_db


def _link(html: str, element_id: str) -> str | None:
    found = re.search(rf'id="{element_id}"[^>]*href="([^"]+)"', html)
    return found and found.group(1).replace("&amp;", "&")


def test_previous_and_next_keep_the_gallery_view(user_client):
    a, b, c = (PhotoFactory(predicted_label=1, confidence=x) for x in (0.9, 0.2, 0.5))
    PhotoFactory(predicted_label=1, confidence=0.1, label=1)  # labelled: not in the view
    query = "show=unlabelled&order=confidence"
    html = user_client.get(f"{reverse('photo_detail', args=[c.pk])}?{query}").content.decode()
    assert _link(html, "photo-previous") == f"{reverse('photo_detail', args=[b.pk])}?{query}"
    assert _link(html, "photo-next") == f"{reverse('photo_detail', args=[a.pk])}?{query}"
    assert "2 of 3" in html and "Unlabelled, least confident first" in html
    first = user_client.get(f"{reverse('photo_detail', args=[b.pk])}?{query}").content.decode()
    assert _link(first, "photo-previous") is None and 'aria-disabled="true">← Previous' in first


def test_a_photo_opened_without_a_view_walks_the_whole_gallery_in_its_default_order(user_client):
    sure, unsure = PhotoFactory(confidence=0.9), PhotoFactory(confidence=0.1)
    html = user_client.get(reverse("photo_detail", args=[sure.pk])).content.decode()
    assert _link(html, "photo-previous").startswith(reverse("photo_detail", args=[unsure.pk]))


def test_the_back_link_opens_the_gallery_page_that_shows_the_photo(user_client, monkeypatch):
    monkeypatch.setattr("classifier.views.photos.PAGE_SIZE", 2)
    photos = [PhotoFactory(confidence=i / 10) for i in range(5)]
    html = user_client.get(f"{reverse('photo_detail', args=[photos[4].pk])}?order=confidence").content.decode()
    assert f'href="{reverse("photo_gallery")}?show=all&amp;order=confidence&amp;page=3"' in html


def test_labelling_on_the_photo_page_comes_back_to_the_same_view(user_client):
    photo = PhotoFactory()
    url = f"{reverse('photo_detail', args=[photo.pk])}?show=wrong&order=-created"
    html = user_client.get(url).content.decode()
    assert f'name="next" value="{url.replace("&", "&amp;")}"' in html
    response = user_client.post(reverse("photo_label", args=[photo.pk]), {"label": "3", "next": url})
    assert response.status_code == 302 and response["Location"] == url
    assert Photo.objects.get(pk=photo.pk).label == 3


def test_the_page_says_the_best_checkpoint_predicts_before_any_promotion(user_client):
    best = CheckpointFactory(val_acc=0.931, run=TrainingRunFactory(status="succeeded"))
    CheckpointFactory(val_acc=0.80, run=TrainingRunFactory(status="succeeded"))  # newer, worse
    photo = PhotoFactory(predicted_label=2, confidence=0.7, label=4, predicted_by=best)
    html = user_client.get(reverse("photo_detail", args=[photo.pk])).content.decode()
    text = re.sub(r"<[^>]+>", "", html)
    assert (f"Photos are predicted by checkpoint #{best.pk}:\nno model promoted yet: the best succeeded checkpoint "
            f"by validation accuracy, run #{best.run_id} epoch 1, 93.1 %.") in text
    assert "✗ wrong" in text  # more than a red border


def test_once_promoted_the_pages_name_the_active_model_and_who_promoted_it(user_client):
    promotion = PromotionFactory(checkpoint=CheckpointFactory(val_acc=0.5), reason="better on photos")
    CheckpointFactory(val_acc=0.99)
    for url in [reverse("model_history"), reverse("photo_detail", args=[PhotoFactory().pk])]:
        text = re.sub(r"<[^>]+>", "", user_client.get(url).content.decode())
        assert f"Photos are predicted by checkpoint #{promotion.checkpoint_id}:\nthe active model, promoted by " \
               f"{promotion.promoted_by}" in text, url


def test_the_prediction_job_page_says_which_checkpoint_predicts_now_and_what_the_job_used(user_client, staff_user):
    from classifier.models import PredictionJob

    older = CheckpointFactory(val_acc=0.85)
    best = CheckpointFactory(val_acc=0.92)
    job = PredictionJob.objects.create(checkpoint=older, scope="all", requested_by=staff_user)
    text = re.sub(r"<[^>]+>", "", user_client.get(reverse("prediction_job_detail", args=[job.pk])).content.decode())
    assert f"Photos are predicted by checkpoint #{best.pk}:\nno model promoted yet" in text
    assert f"This job used checkpoint #{older.pk}, chosen by {staff_user}; photos are predicted by checkpoint " \
           f"#{best.pk} now." in text
