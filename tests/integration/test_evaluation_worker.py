"""A run that succeeds in a real worker gets its test-set report, and the report's confusion
matrix cells open their images."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from classifier.models import EvaluationReport, JobStatus, TrainingRun
from classifier.services import training as services
from tests.factories import StaffFactory, UserFactory, tiny_config
from tests.workers import wait_for

pytestmark = pytest.mark.integration


def test_a_succeeded_run_gets_its_report_and_the_cells_open_their_images(worker):
    run = services.training_run_create(created_by=StaffFactory(), config=tiny_config(epochs=1))
    report = wait_for(lambda: EvaluationReport.objects.filter(run=run, status__in=("succeeded", "failed")).first(),
                      timeout=300, message=f"the automatic report; worker log:\n{worker.log()}")
    run = TrainingRun.objects.get(pk=run.pk)
    assert run.status == JobStatus.SUCCEEDED
    assert report.status == JobStatus.SUCCEEDED, report.error
    assert report.n_samples == 10_000 and report.origin == "training" and report.device.startswith("cpu")
    assert report.checkpoint == run.checkpoints.order_by("-val_acc", "epoch").first()

    client = Client()
    client.force_login(UserFactory())
    assert reverse("report_detail", args=[report.pk]) in client.get(reverse("run_detail", args=[run.pk])).content.decode()
    page = client.get(reverse("report_detail", args=[report.pk])).content.decode()
    links = re.findall(rf'href="(/reports/{report.pk}/cells/(\d)/(\d)/)"[^>]*>(\d+)</a>', page)
    assert sum(int(count) for *_, count in links) == 10_000
    # An off-diagonal cell (a confusion), and the largest cell, which spans pages.
    for url, true_class, predicted, count in (next(link for link in links if link[1] != link[2]),
                                              max(links, key=lambda link: int(link[3]))):
        assert int(count) == report.confusion_matrix[int(true_class)][int(predicted)]
        gallery = client.get(url).content.decode()
        images = re.findall(r'<img [^>]*src="(/datasets/fmnist-test/(\d+)\.png)"', gallery)
        assert len(images) == min(int(count), 60)
        table = report.prediction_table
        for _, index in images:
            assert (table.labels[int(index)], table.predicted[int(index)]) == (int(true_class), int(predicted))
        response = client.get(images[0][0])
        assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
