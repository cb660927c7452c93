from django.urls import reverse

from classifier.models import JobStatus, TrainingRun
from tests.factories import CheckpointFactory, TrainingRunFactory
from tests.scoring import scored


def test_staff_start_a_finetune_from_the_checkpoint_page(staff_client, sent_tasks):
    parent = CheckpointFactory()
    assert "Fine-tune" in staff_client.get(reverse("checkpoint_detail", args=[parent.pk])).content.decode()
    url = reverse("checkpoint_finetune", args=[parent.pk])
    assert "Start fine-tune" in staff_client.get(url).content.decode()
    response = staff_client.post(url, {"epochs": "2", "seed": "0"})  # box unticked: Fashion-MNIST only
    run = TrainingRun.objects.get(parent_checkpoint=parent)
    assert response.status_code == 302 and run.config["epochs"] == 2 and run.photo_snapshot is None
    response = staff_client.post(url, {"with_photos": "on", "seed": "0"})
    assert response.status_code == 200 and "no labelled photos in the train part" in response.content.decode()


def test_non_staff_cannot_finetune(user_client):
    parent = CheckpointFactory()
    url = reverse("checkpoint_finetune", args=[parent.pk])
    assert user_client.get(url).status_code == 403 and user_client.post(url, {}).status_code == 403
    assert not TrainingRun.objects.filter(parent_checkpoint=parent).exists()


def test_a_finetune_run_page_shows_before_and_after(user_client):
    parent = CheckpointFactory()
    scored(parent, "fmnist-test", correct=90, total=100)
    scored(parent, "photos", correct=8, total=20)
    run = TrainingRunFactory(status=JobStatus.SUCCEEDED, parent_checkpoint=parent, photo_snapshot=[[1, 0], [2, 3]],
                             photo_snapshot_fingerprint="ab" * 32)
    child = CheckpointFactory(run=run)
    scored(child, "fmnist-test", correct=90, total=100)
    scored(child, "photos", correct=17, total=20)
    page = user_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "Before and after" in page and "with 2 labelled photos" in page
    assert "8/20 (40.0 %" in page and "17/20 (85.0 %" in page and "+45.00 pp" in page
