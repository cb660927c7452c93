import re

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from classifier.models import EvaluationReport, JobStatus
from classifier.services import evaluation as evaluation_services
from classifier.services import jobs as job_services
from dataset.fashion_mnist import load_split
from tests.factories import CheckpointFactory, report_from_logits

# Made-up model outputs for 200 samples with known cells: 12 of each class but 92 Shirts (6),
# in class order. Every sample is predicted right, except that the first 70 Shirts (from sample
# 72 on) are taken for T-shirt/top (0) with falling confidence, and sample 12 (the first
# Trouser) for a Dress with the highest confidence of all.
N = 200


def _outputs(shirts_as_tshirts: int = 70):
    labels = np.repeat(np.arange(10), [12, 12, 12, 12, 12, 12, 92, 12, 12, 12])
    predicted = labels.copy()
    shirt_rows = np.flatnonzero(labels == 6)[:shirts_as_tshirts]
    predicted[shirt_rows] = 0
    predicted[12] = 3
    logits = np.zeros((N, 10), dtype=np.float32)
    logits[np.arange(N), predicted] = 4.0
    logits[shirt_rows, 0] = np.linspace(6.0, 2.0, len(shirt_rows))  # the first shirt the most confident
    logits[12, 3] = 9.0
    return labels, logits, shirt_rows


@pytest.fixture
def report(db):
    labels, logits, _ = _outputs()
    return report_from_logits(labels, logits)


def test_report_page_shows_figures_matrix_with_links_calibration_and_mistakes(user_client, report):
    page = user_client.get(reverse("report_detail", args=[report.pk])).content.decode()
    matrix = report.confusion_matrix
    assert matrix[6][0] == 70 and matrix[1][3] == 1 and sum(map(sum, matrix)) == N
    assert f'id="report-accuracy">{report.accuracy * 100:.2f} %<' in page and report.accuracy == (N - 71) / N
    # Every non-empty cell links to its gallery, showing its count; class names on both axes.
    cell_link = reverse("report_cell", args=[report.pk, 6, 0])
    assert re.search(rf'href="{cell_link}"[^>]*>70</a>', page)
    assert page.count(f'href="/reports/{report.pk}/cells/') == sum(1 for row in matrix for c in row if c)
    assert page.count("Shirt</span></th>") == 1 and 'class="row-name">Shirt</th>' in page
    assert "Reliability · ECE" in page and "<svg" in page
    # Most confident mistake first: the Trouser taken for a Dress, then the first shirt.
    mistakes = re.findall(r'<figure class="sample wrong" data-key="(\d+)"', page)
    assert mistakes[:2] == ["12", "72"] and len(mistakes) == 24
    assert reverse("fmnist_test_image", args=[12]) in page


def test_a_cell_gallery_shows_exactly_its_images_paged_most_confident_first(user_client, report):
    _, _, shirt_rows = _outputs()
    url = reverse("report_cell", args=[report.pk, 6, 0])
    first = user_client.get(url).content.decode()
    keys = re.findall(r'<figure class="sample wrong" data-key="(\d+)"', first)
    assert len(keys) == 60 and keys == [str(i) for i in shirt_rows[:60]]
    assert "<strong>70</strong> of the 92 Shirt images" in first and "page 1 of 2" in first
    second = user_client.get(url + "?page=2").content.decode()
    keys += re.findall(r'<figure class="sample wrong" data-key="(\d+)"', second)
    assert keys == [str(i) for i in shirt_rows]
    assert "true <strong>Shirt</strong>" in second and "predicted <strong>T-shirt/top</strong>" in second


def test_a_diagonal_cell_shows_the_recognised_images(user_client, report):
    page = user_client.get(reverse("report_cell", args=[report.pk, 6, 6])).content.decode()
    assert len(re.findall(r'<figure class="sample" data-key', page)) == 22
    assert "were recognised" in page


def test_an_out_of_range_class_is_404(user_client, report):
    assert user_client.get(reverse("report_cell", args=[report.pk, 10, 0])).status_code == 404


def test_comparison_shows_per_class_and_cell_differences(user_client, report):
    labels, logits, _ = _outputs(shirts_as_tshirts=40)
    better = report_from_logits(labels, logits)
    page = user_client.get(reverse("report_compare") + f"?a={report.pk}&b={better.pk}").content.decode()
    classes = page.split('id="compare-classes"')[1]
    n = r'<td class="muted">\d+</td>'
    assert re.search(rf"<td>Shirt</td><td>23.91 %</td>{n}<td>56.52 %</td>{n}\s*<td class=\"better\">\+32.61 pp</td>", classes)
    assert re.search(rf"<td>Trouser</td><td>91.67 %</td>{n}<td>91.67 %</td>{n}\s*<td class=\"\">\+0.00 pp</td>", classes)
    matrix = page.split('id="compare-matrix"')[1]
    shirt_row = matrix.split('class="row-name">Shirt</th>')[1].split("</tr>")[0]
    cells = re.findall(r'title="A (\d+), B (\d+)"[^>]*>([^<]+)</td>', shirt_row)
    assert cells[0] == ("70", "40", "-30") and cells[6] == ("22", "52", "+30") and cells[1] == ("0", "0", "0")
    assert f'id="compare-accuracy"><th>accuracy</th><td>{report.accuracy * 100:.2f} %' in page
    assert "+15.00 pp" in page  # 30 more right of 200


def test_report_page_offers_comparison_with_reports_of_the_same_dataset(user_client, report):
    labels, logits, _ = _outputs(shirts_as_tshirts=40)
    other = report_from_logits(labels, logits)
    page = user_client.get(reverse("report_detail", args=[report.pk])).content.decode()
    assert f'<option value="{other.pk}">' in page and f'name="a" value="{report.pk}"' in page


def test_a_queued_report_page_polls_its_live_fragment(user_client, db):
    report = evaluation_services.evaluation_report_create(checkpoint=CheckpointFactory(), requested_by=None,
                                                          enqueue=False)
    EvaluationReport.objects.filter(pk=report.pk).update(status=JobStatus.RUNNING, progress=0.4)
    page = user_client.get(reverse("report_detail", args=[report.pk])).content.decode()
    assert f'data-live-url="{reverse("report_live", args=[report.pk])}"' in page and "live.js" in page
    fragment = user_client.get(reverse("report_live", args=[report.pk])).content.decode()
    assert 'data-active="1"' in fragment and "40 % of the images scored" in fragment
    assert "report-accuracy" not in fragment


def test_a_failed_report_shows_its_reason(user_client, db):
    report = evaluation_services.evaluation_report_create(checkpoint=CheckpointFactory(), requested_by=None,
                                                          enqueue=False)
    job_services.job_fail(job=report, error="The checkpoint file is missing: x.pt", detail="Traceback: /srv/app/x.py")
    page = user_client.get(reverse("report_detail", args=[report.pk])).content.decode()
    assert 'data-active="0"' in page and "The checkpoint file is missing: x.pt" in page
    assert "Traceback" not in page and "/srv/app" not in page  # the detail is for staff, in the admin


def test_test_images_are_served_enlarged_with_cache_headers(user_client, db):
    response = user_client.get(reverse("fmnist_test_image", args=[17]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Cache-Control"].startswith("private, max-age=") and response["ETag"]
    image = Image.open(__import__("io").BytesIO(response.content))
    assert image.size == (112, 112) and image.mode == "L"
    # Nearest-neighbour: each 4×4 block is one pixel of the test image.
    assert np.array_equal(np.asarray(image)[::4, ::4], load_split("test").images[17])
    again = user_client.get(reverse("fmnist_test_image", args=[17]), HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    assert user_client.get(reverse("fmnist_test_image", args=[10_000])).status_code == 404


def test_pages_and_images_need_a_signed_in_user(client, report):
    for url in (reverse("report_detail", args=[report.pk]), reverse("report_cell", args=[report.pk, 0, 0]),
                reverse("report_compare"), reverse("fmnist_test_image", args=[0])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


@pytest.fixture
def sent(sent_tasks):
    return sent_tasks


def test_non_staff_cannot_start_an_evaluation(user_client, sent):
    checkpoint = CheckpointFactory()
    assert user_client.post(reverse("checkpoint_evaluate", args=[checkpoint.pk])).status_code == 403
    assert not EvaluationReport.objects.exists() and sent == []
    page = user_client.get(reverse("run_detail", args=[checkpoint.run_id])).content.decode()
    assert "Evaluate</button>" not in page


def test_staff_evaluate_a_checkpoint_from_the_run_page(staff_client, staff_user, sent,
                                                       django_capture_on_commit_callbacks):
    checkpoint = CheckpointFactory()
    run_page = staff_client.get(reverse("run_detail", args=[checkpoint.run_id])).content.decode()
    assert reverse("checkpoint_evaluate", args=[checkpoint.pk]) in run_page and "Evaluate</button>" in run_page
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("checkpoint_evaluate", args=[checkpoint.pk]), {"dataset": "fmnist-test"})
    report = EvaluationReport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("report_detail", args=[report.pk])
    assert report.requested_by == staff_user and report.checkpoint == checkpoint
    assert sent == [("worker.tasks.evaluate_report", report.pk)]


def test_evaluate_needs_post_and_a_csrf_token(staff_user, sent):
    checkpoint = CheckpointFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.get(reverse("checkpoint_evaluate", args=[checkpoint.pk])).status_code == 405
    assert client.post(reverse("checkpoint_evaluate", args=[checkpoint.pk])).status_code == 403
    assert not EvaluationReport.objects.exists()


def test_run_page_lists_its_reports_and_keeps_polling_while_one_is_made(user_client, report):
    run = report.run
    EvaluationReport.objects.filter(pk=report.pk).update(status=JobStatus.SUCCEEDED)
    pending = evaluation_services.evaluation_report_create(checkpoint=report.checkpoint, requested_by=None,
                                                           enqueue=False)
    fragment = user_client.get(reverse("run_live", args=[run.pk])).content.decode()
    assert 'data-active="1"' in fragment  # the run is finished, its report is not
    assert reverse("report_detail", args=[report.pk]) in fragment and reverse("report_detail", args=[pending.pk]) in fragment
    assert f"{report.accuracy * 100:.2f} %" in fragment
    job_services.job_fail(job=pending, error="x")
    assert 'data-active="0"' in user_client.get(reverse("run_live", args=[run.pk])).content.decode()


def test_admin_actions_evaluate_runs_and_checkpoints(staff_client, staff_user, sent,
                                                    django_capture_on_commit_callbacks):
    staff_user.is_superuser = True  # the admin account ./run.sh creates
    staff_user.save()
    checkpoint = CheckpointFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("admin:classifier_trainingrun_changelist"), {
            "action": "evaluate_best_checkpoints", "_selected_action": [checkpoint.run_id]})
    assert response.status_code == 302
    report = EvaluationReport.objects.get()
    assert report.checkpoint == checkpoint and report.origin == "admin"
    assert sent == [("worker.tasks.evaluate_report", report.pk)]
    other = CheckpointFactory()
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse("admin:classifier_checkpoint_changelist"), {
            "action": "evaluate_checkpoints", "_selected_action": [other.pk]})
    assert EvaluationReport.objects.filter(checkpoint=other).exists()
    listing = staff_client.get(reverse("admin:classifier_evaluationreport_changelist"))
    assert listing.status_code == 200 and f">{report.pk}<" in listing.content.decode()
    assert staff_client.get(reverse("admin:classifier_evaluationreport_change", args=[report.pk])).status_code == 200


def test_mistakes_on_a_photo_report_show_the_photo_beside_what_the_model_saw_and_link_to_it(user_client):
    from tests.factories import PhotoFactory

    kept, deleted = PhotoFactory(), PhotoFactory()
    deleted_id = deleted.pk
    labels, logits = np.array([0, 1, 2]), np.zeros((3, 10), dtype=np.float32)
    logits[[0, 1, 2], [0, 7, 8]] = 5.0  # the first right, the two photos wrong
    report = report_from_logits(labels, logits, dataset_name="photos",
                                sample_keys=["999999", str(kept.pk), str(deleted_id)])
    deleted.delete()
    page = user_client.get(reverse("report_detail", args=[report.pk])).content.decode()
    mistake = re.search(rf'<figure class="sample wrong with-photo" data-key="{kept.pk}">(.*?)</figure>', page, re.S)
    assert mistake, page
    assert f'src="{reverse("photo_thumbnail", args=[kept.pk])}"' in mistake.group(1)
    assert f'src="{reverse("photo_model_input", args=[kept.pk])}"' in mistake.group(1)
    assert f'href="{reverse("photo_detail", args=[kept.pk])}"' in mistake.group(1) and "✗ wrong" in mistake.group(1)
    # A photo deleted since keeps its place in the report, without a link to a page that is gone.
    assert f'<figure class="sample wrong" data-key="{deleted_id}">' in page
    assert f'href="{reverse("photo_detail", args=[deleted_id])}"' not in page
