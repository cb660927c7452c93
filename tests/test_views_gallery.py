"""The gallery at scale: pages of photos at a constant number of queries, live updates that send
only the cards that changed, "preparing" cards, and labelling many photos at once."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from classifier.models import LabelCorrection, Photo, PhotoState, PredictionJob, PreparationJob, Tag
from classifier.services import photos as services
from classifier.views.photos import PAGE_SIZE
from tests.factories import LabelCorrectionFactory, PhotoFactory

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


def _photos(n: int, **kwargs) -> list[Photo]:
    photos = PhotoFactory.create_batch(n, source="shop", **kwargs)
    for photo in photos[::3]:
        LabelCorrectionFactory(photo=photo)
        photo.tags.add(Tag.objects.get_or_create(name=f"tag{photo.pk % 5}")[0])
    return photos


def _card_ids(page: str) -> list[int]:
    import re

    return [int(pk) for pk in re.findall(r'<li id="photo-(\d+)"', page)]


@pytest.mark.parametrize("n", [3, PAGE_SIZE * 2 + 5])
def test_the_gallery_costs_the_same_queries_for_3_photos_as_for_a_hundred_and_more(
        user_client, n, django_assert_max_num_queries):
    _photos(n)
    PredictionJob.objects.create(status="running", total=4, done=1)
    with django_assert_max_num_queries(13):
        response = user_client.get(reverse("photo_gallery"), {"order": "useful"})
    assert response.status_code == 200 and len(_card_ids(response.content.decode())) == min(n, PAGE_SIZE)


def test_the_gallery_pages_keeping_its_filters(user_client):
    photos = _photos(PAGE_SIZE + 5)
    first = user_client.get(reverse("photo_gallery"), {"order": "created"}).content.decode()
    assert _card_ids(first) == [p.pk for p in photos[:PAGE_SIZE]]
    assert "page 1 of 2" in first and "?show=all&amp;order=created&amp;page=2" in first
    second = user_client.get(reverse("photo_gallery"), {"order": "created", "page": "2"}).content.decode()
    assert _card_ids(second) == [p.pk for p in photos[PAGE_SIZE:]]


def _changes(client, photos, since=None, **params):
    query = {"ids": ",".join(str(p.pk) for p in photos), **params}
    if since is not None:
        query["since"] = since
    response = client.get(reverse("photo_gallery_changes"), query)
    assert response.status_code == 200
    return response.json()


def test_live_updates_send_only_the_cards_that_changed_since_the_last_answer(user_client, plain_user,
                                                                            django_assert_max_num_queries):
    photos = _photos(12)
    job = PredictionJob.objects.create(status="running", total=12, done=3)
    Photo.objects.update(changed_at=timezone.now() - timedelta(minutes=5))
    page = user_client.get(reverse("photo_gallery"))
    since = page.context["since"]
    assert f'data-since="{since}"' in page.content.decode()
    with django_assert_max_num_queries(9):
        quiet = _changes(user_client, photos, since)
    assert quiet["cards"] == {} and quiet["active"] and "3 of 12 photos" in quiet["jobs"]
    # A worker predicts one photo, someone labels another: those two cards, nothing else.
    services.prediction_job_record(job=job, results=[(photos[4].pk, [0.0] * 9 + [1.0])])
    services.photo_label_set(photo=photos[7], label=2, user=plain_user)
    changed = _changes(user_client, photos, quiet["since"])
    assert sorted(map(int, changed["cards"])) == [photos[4].pk, photos[7].pk]
    assert "Ankle boot" in changed["cards"][str(photos[4].pk)] and 'data-label="2"' in changed["cards"][str(photos[7].pk)]
    PredictionJob.objects.filter(pk=job.pk).update(status="succeeded", done=12)
    Photo.objects.update(changed_at=timezone.now() - timedelta(minutes=5))
    done = _changes(user_client, photos, changed["since"])
    assert done["cards"] == {} and not done["active"] and "succeeded" in done["jobs"]
    # No answer to go on (a bad or missing since): every card on the page.
    assert len(_changes(user_client, photos, "soon")["cards"]) == 12


def test_a_preparing_card_says_so_keeps_the_page_asking_and_turns_into_a_normal_card(user_client, plain_user):
    from tests.photo_files import jpeg_bytes, upload

    ready = _photos(2)
    Photo.objects.update(changed_at=timezone.now() - timedelta(minutes=5))
    stored = services.photo_store(file=upload(jpeg_bytes()), user=plain_user)
    PreparationJob.objects.create(status="running")
    page = user_client.get(reverse("photo_gallery"), {"order": "-created"}).content.decode()
    assert 'data-state="preparing"' in page and "preparing: a worker makes what the model sees" in page
    assert f'value="{stored.pk}" form="bulk-label"' not in page and f'value="{ready[0].pk}" form="bulk-label"' in page
    assert 'id="gallery-jobs" data-active="1"' in page
    first = _changes(user_client, [stored, *ready])
    services.photo_prepare(photo_id=stored.pk)
    PreparationJob.objects.update(status="succeeded")
    after = _changes(user_client, [stored, *ready], first["since"])
    assert list(after["cards"]) == [str(stored.pk)] and 'data-state="ready"' in after["cards"][str(stored.pk)]
    assert not after["active"]


def test_a_failed_card_says_why(user_client, plain_user):
    PhotoFactory(state=PhotoState.FAILED, preparation_error="OSError: the upload is missing", model_input=b"")
    page = user_client.get(reverse("photo_gallery")).content.decode()
    assert "could not be prepared: OSError: the upload is missing" in page


def test_bulk_label_records_one_correction_per_photo_as_single_labelling_does(user_client, plain_user):
    photos = _photos(5)
    already = photos[1]
    services.photo_label_set(photo=already, label=4, user=plain_user)
    preparing = PhotoFactory(state=PhotoState.PREPARING, model_input=b"")
    before = LabelCorrection.objects.count()
    response = user_client.post(reverse("photos_label_bulk"), {
        "photo": [photos[0].pk, already.pk, photos[2].pk, preparing.pk], "label": "4", "next": "/photos/?page=2"},
        **JSON)
    data = response.json()
    assert response.status_code == 200 and data["ok"] and len(data["corrections"]) == 2
    assert set(data["refused"]) == {str(preparing.pk)} and "preparing" in data["refused"][str(preparing.pk)]
    assert set(data["cards"]) == {str(p.pk) for p in (photos[0], already, photos[2], preparing)}
    made = LabelCorrection.objects.filter(pk__in=data["corrections"])
    assert {(c.photo_id, c.to_label, c.user, c.source) for c in made} == {
        (photos[0].pk, 4, plain_user, "gallery (bulk)"), (photos[2].pk, 4, plain_user, "gallery (bulk)")}
    assert LabelCorrection.objects.count() == before + 2 and Photo.objects.get(pk=photos[0].pk).labelled_by == plain_user
    assert "2 photos labelled Coat; 1 had that label already; 1 not changed" in data["message"]


def test_bulk_label_without_scripts_redirects_back_with_a_message_and_refuses_bad_input(user_client, plain_user):
    photos = _photos(2)
    services.photos_label_many(photo_ids=[p.pk for p in photos], label=3, user=plain_user)
    response = user_client.post(reverse("photos_label_bulk"), {"photo": [p.pk for p in photos], "label": "none",
                                                               "next": "/photos/?order=created"})
    assert response.status_code == 302 and response["Location"] == "/photos/?order=created"
    assert list(Photo.objects.values_list("label", flat=True)) == [None, None]
    assert LabelCorrection.objects.filter(to_label=None, source="gallery (bulk)").count() == 2
    assert user_client.post(reverse("photos_label_bulk"), {"photo": [photos[0].pk], "label": ""}, **JSON
                            ).json()["error"].startswith("Choose the class")
    assert user_client.post(reverse("photos_label_bulk"), {"photo": [photos[0].pk], "label": "12"}, **JSON
                            ).status_code == 400
    assert user_client.post(reverse("photos_label_bulk"), {"label": "3"}, **JSON).json()["error"].startswith(
        "No photos selected")
    off_site = user_client.post(reverse("photos_label_bulk"), {"photo": [photos[0].pk], "label": "3",
                                                               "next": "https://evil.example/"})
    assert off_site["Location"] == reverse("photo_gallery")


def test_bulk_label_needs_a_signed_in_user_and_the_csrf_token(client, plain_user):
    photo = PhotoFactory()
    response = client.post(reverse("photos_label_bulk"), {"photo": [photo.pk], "label": "3"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(plain_user)
    assert strict.post(reverse("photos_label_bulk"), {"photo": [photo.pk], "label": "3"}).status_code == 403
    assert not LabelCorrection.objects.exists()


def test_cards_are_rendered_once_per_version_of_the_photo_each_with_the_askers_csrf_token(plain_user):
    from classifier.models import JobStatus, LabelIssueJob, LabelScore
    from tests.factories import UserFactory

    photo = PhotoFactory(original_name="first.jpg")
    clients = []
    for user in (plain_user, UserFactory()):
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        clients.append(client)
    page = clients[0].get(reverse("photo_gallery")).content.decode()
    assert "first.jpg" in page and "csrf-slot" not in page
    # Nothing a card shows changed (a rename is not something the app does): the same card.
    Photo.objects.filter(pk=photo.pk).update(original_name="renamed.jpg")
    other = clients[1].get(reverse("photo_gallery"))
    assert "first.jpg" in other.content.decode()
    # Its no-script label form carries this user's token, which the server takes.
    token = other.content.decode().split('name="csrfmiddlewaretoken" value="')[-1].split('"')[0]
    assert clients[1].post(reverse("photo_label", args=[photo.pk]), {"label": "2", "csrfmiddlewaretoken": token}
                           ).status_code == 302
    # A label moves changed_at: the card is made again.
    assert 'data-label="2"' in clients[0].get(reverse("photo_gallery")).content.decode()
    # A finished label issue job's suspicion is part of the card too.
    job = LabelIssueJob.objects.create(status=JobStatus.SUCCEEDED, finished_at=timezone.now(),
                                       started_at=timezone.now() + timedelta(minutes=1))
    LabelScore.objects.create(job=job, photo=photo, label=2, score=0.97, suspected=6, is_issue=True,
                              label_probability=0.03, scored_by="checkpoint #1")
    assert "possibly mislabelled" in clients[0].get(reverse("photo_gallery")).content.decode()


def test_the_gallery_says_which_checkpoint_predicts_the_photos_and_why(user_client):
    from tests.factories import CheckpointFactory, PromotionFactory

    assert 'id="no-model"' in user_client.get(reverse("photo_gallery")).content.decode()
    best = CheckpointFactory(val_acc=0.93)
    CheckpointFactory(val_acc=0.91)  # a newer run, but worse
    page = user_client.get(reverse("photo_gallery")).content.decode()
    assert 'id="no-model"' not in page
    assert (f"checkpoint #{best.pk}</a>:\nno model promoted yet: the best succeeded checkpoint by validation "
            f"accuracy") in page
    promoted = CheckpointFactory(val_acc=0.90)
    PromotionFactory(checkpoint=promoted, reason="best on shop photos")
    page = user_client.get(reverse("photo_gallery")).content.decode()
    assert f"checkpoint #{promoted.pk}</a>:\nthe active model, promoted by" in page and "best on shop photos" in page


def test_staff_are_told_of_photos_an_older_preprocessing_made_and_how_to_remake_them(staff_client, plain_user):
    from dataset.photos import PREPROCESS_VERSION

    PhotoFactory.create_batch(2, preprocess_version=PREPROCESS_VERSION - 1)
    PhotoFactory(preprocess_version=PREPROCESS_VERSION)
    PhotoFactory(preprocess_version=0, state=PhotoState.PREPARING, model_input=b"")  # nothing made yet
    page = staff_client.get(reverse("photo_gallery")).content.decode()
    assert f"2 photos were prepared by an older\n  preprocessing than today's (v{PREPROCESS_VERSION})" in page
    assert "python manage.py preprocess_photos" in page
    someone = Client()
    someone.force_login(plain_user)
    assert 'id="outdated-photos"' not in someone.get(reverse("photo_gallery")).content.decode()

    Photo.objects.update(preprocess_version=PREPROCESS_VERSION)
    assert 'id="outdated-photos"' not in staff_client.get(reverse("photo_gallery")).content.decode()
