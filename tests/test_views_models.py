from django.test import Client
from django.urls import reverse

from classifier.models import JobStatus, Promotion
from classifier.selectors.promotions import active_checkpoint
from classifier.services.promotions import checkpoint_promote
from tests.factories import TrainingRunFactory, checkpoint_with_file
from tests.scoring import scored


def _evaluated(fmnist: int, photos: int, **run_fields):
    checkpoint = checkpoint_with_file(run=TrainingRunFactory(status=JobStatus.SUCCEEDED, **run_fields))
    scored(checkpoint, "fmnist-test", correct=fmnist, total=100)
    scored(checkpoint, "photos", correct=photos, total=20)
    return checkpoint


def test_checkpoint_page_shows_both_domains_beside_its_parent(user_client):
    parent = _evaluated(90, 8)
    child = _evaluated(89, 15, parent_checkpoint=parent)
    page = user_client.get(reverse("checkpoint_detail", args=[child.pk])).content.decode()
    assert "its parent" in page and "89/100 (89.0 %, 95 % 81–94 %)" in page and "90/100 (90.0 %" in page
    assert "15/20 (75.0 %" in page and "8/20 (40.0 %" in page and "+35.00 pp" in page and "-1.00 pp" in page
    assert "p = 0.5" in page  # one image lost, none gained: nothing to tell from chance
    assert "Promote to active model" not in page  # not staff


def test_promote_page_warns_and_the_form_requires_acknowledging(staff_client, staff_user):
    active = _evaluated(90, 10)
    checkpoint_promote(checkpoint=active, user=staff_user, reason="first")
    candidate = _evaluated(80, 16)
    url = reverse("checkpoint_promote", args=[candidate.pk])
    page = staff_client.get(url).content.decode()
    assert "On Fashion-MNIST test accuracy drops from 90/100" in page and "promote anyway" in page
    response = staff_client.post(url, {"reason": "photos matter more"})
    assert response.status_code == 200 and "Read the warnings" in response.content.decode()
    assert active_checkpoint() == active
    response = staff_client.post(url, {"reason": "photos matter more", "acknowledge_warnings": "on"})
    assert response.status_code == 302 and active_checkpoint() == candidate


def test_non_staff_cannot_promote_or_roll_back(user_client, staff_user):
    first, second = _evaluated(90, 10), _evaluated(91, 11)
    checkpoint_promote(checkpoint=first, user=staff_user, reason="first")
    promotion = checkpoint_promote(checkpoint=second, user=staff_user, reason="second")
    assert user_client.get(reverse("checkpoint_promote", args=[first.pk])).status_code == 403
    assert user_client.post(reverse("checkpoint_promote", args=[first.pk]), {"reason": "x"}).status_code == 403
    assert user_client.post(reverse("promotion_rollback", args=[promotion.pk]), {"reason": "x"}).status_code == 403
    assert active_checkpoint() == second and Promotion.objects.count() == 2


def test_promotion_and_rollback_posts_need_a_csrf_token(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    first = _evaluated(90, 10)
    assert client.post(reverse("checkpoint_promote", args=[first.pk]), {"reason": "x"}).status_code == 403
    assert Promotion.objects.count() == 0


def test_history_lists_promotions_and_staff_roll_back_the_latest(staff_client, staff_user):
    first, second = _evaluated(90, 10), _evaluated(91, 11)
    checkpoint_promote(checkpoint=first, user=staff_user, reason="baseline model")
    promotion = checkpoint_promote(checkpoint=second, user=staff_user, reason="fine-tuned on photos")
    page = staff_client.get(reverse("model_history")).content.decode()
    assert "baseline model" in page and "fine-tuned on photos" in page and page.count("Roll back") == 1
    response = staff_client.post(reverse("promotion_rollback", args=[promotion.pk]), {"reason": "complaints"})
    assert response.status_code == 302 and active_checkpoint() == first
    page = staff_client.get(reverse("model_history")).content.decode()
    assert f"rollback of #{promotion.pk}" in page and "complaints" in page
