"""Reports on sets that lack classes, comparing reports on different sets, and Evaluate on a
checkpoint that already has a report."""

import json
import re

import numpy as np
import pytest
from django.urls import reverse

from classifier.models import EvaluationReport
from classifier.selectors import reports as report_selectors
from tests.factories import CheckpointFactory, report_from_logits


def _photo_like_report(**fields):
    """30 images of classes 0, 1 and 5 only; each class 8 of 10 right (the rest taken for class 2)."""
    labels = np.repeat([0, 1, 5], 10)
    predicted = labels.copy()
    predicted[[8, 9, 18, 19, 28, 29]] = 2
    logits = np.zeros((30, 10), dtype=np.float32)
    logits[np.arange(30), predicted] = 5.0
    return report_from_logits(labels, logits, dataset_name="photos", sample_keys=[str(100 + i) for i in range(30)],
                              **fields)


def _full_report(**fields):
    labels = np.repeat(np.arange(10), 10)
    logits = np.zeros((100, 10), dtype=np.float32)
    logits[np.arange(100), labels] = 5.0
    logits[0, 1] = 9.0  # one mistake
    return report_from_logits(labels, logits, **fields)


def test_absent_classes_get_no_score_and_the_macro_mean_covers_the_present_ones(db):
    report = _photo_like_report()
    rows = report_selectors.report_classes(report=report)
    assert [r.name for r in rows if r.present] == ["T-shirt/top", "Trouser", "Sandal"]
    assert all(r.precision is None and r.recall is None and r.f1 is None for r in rows if not r.present)
    macro = report_selectors.report_macro(report=report)
    assert macro["classes"] == 3 and macro["of"] == 10
    assert macro["recall"] == pytest.approx(0.8)  # (0.8 + 0.8 + 0.8) / 3, not / 10


def test_old_reports_stored_with_zeros_for_absent_classes_read_the_same(db):
    report = _photo_like_report()
    metrics = report.metrics
    for row in metrics["per_class"]:
        if not row["support"]:
            row.update(precision=0.0, recall=0.0, f1=0.0)  # as engine.metrics stored them before
    EvaluationReport.objects.filter(pk=report.pk).update(metrics=metrics)
    report.refresh_from_db()
    assert report_selectors.report_macro(report=report)["recall"] == pytest.approx(0.8)
    assert report_selectors.report_classes(report=report)[2].recall is None


def test_the_page_shows_a_dash_and_n_and_json_says_null(user_client):
    report = _photo_like_report()
    page = user_client.get(reverse("report_detail", args=[report.pk])).content.decode()
    per_class = page.split('id="per-class"')[1].split("</table>")[0]
    assert re.search(r'<tr class="absent"><td>Pullover</td><td>—</td><td>—</td><td>—</td><td>0</td>'
                     r'\s*<td class="muted"></td></tr>', per_class)
    assert "macro mean (3 classes present)" in per_class and "80.00 %" in per_class
    assert 'id="absent-classes"' in page and "n=30" in page
    data = json.loads(user_client.get(reverse("report_data", args=[report.pk, "json"])).content)
    pullover = next(row for row in data["per_class"] if row["class"] == "Pullover")
    assert pullover == {"class": "Pullover", "precision": None, "recall": None, "f1": None, "support": 0}
    assert data["macro"]["classes"] == 3 and data["macro"]["recall"] == pytest.approx(0.8)
    csv_text = user_client.get(reverse("report_data", args=[report.pk, "csv"])).content.decode()
    assert "Pullover,,,,0" in csv_text


def test_comparing_reports_on_different_datasets_warns_and_gives_no_difference(user_client):
    photos, test_set = _photo_like_report(), _full_report()
    comparison = report_selectors.reports_compare(a=test_set, b=photos)
    assert not comparison.same_dataset and comparison.matrix is None and comparison.accuracy_diff is None
    assert all(c.diff is None for c in comparison.classes)
    page = user_client.get(reverse("report_compare"), {"a": test_set.pk, "b": photos.pk}).content.decode()
    assert 'id="different-datasets"' in page and 'id="no-matrix-diff"' in page
    assert 'id="compare-matrix"' not in page and " pp" not in page.split('id="compare-classes"')[1]


def test_same_dataset_with_other_images_is_refused_too(db):
    a = _photo_like_report()
    b = _photo_like_report()
    EvaluationReport.objects.filter(pk=b.pk).update(dataset_fingerprint="e" * 64)  # photos relabelled since
    b.refresh_from_db()
    assert report_selectors.reports_compare(a=a, b=b).matrix is None


def test_the_compare_page_never_preselects_one_report_twice(user_client):
    older, newer = _full_report(), _full_report()
    photos = _photo_like_report()  # the newest, on another set
    page = user_client.get(reverse("report_compare")).content.decode()
    selected = re.findall(r'<option value="(\d+)" selected>', page)
    assert len(selected) == 2 and selected[0] != selected[1]
    assert set(map(int, selected)) == {older.pk, newer.pk}  # a pair on the same images
    page = user_client.get(reverse("report_compare"), {"a": photos.pk}).content.decode()
    selected = re.findall(r'<option value="(\d+)" selected>', page)
    assert selected[0] == str(photos.pk) and selected[1] != str(photos.pk)
    same = user_client.get(reverse("report_compare"), {"a": older.pk, "b": older.pk}).content.decode()
    assert 'id="same-report"' in same and 'id="compare-accuracy"' not in same


def test_evaluate_offers_the_existing_report_and_evaluates_again_only_when_asked(staff_client, sent_tasks,
                                                                                  django_capture_on_commit_callbacks):
    checkpoint = CheckpointFactory()
    existing = _full_report(checkpoint=checkpoint)
    url = reverse("checkpoint_evaluate", args=[checkpoint.pk])
    page = staff_client.post(url, {"dataset": "fmnist-test"})
    assert page.status_code == 200 and reverse("report_detail", args=[existing.pk]) in page.content.decode()
    assert EvaluationReport.objects.count() == 1 and sent_tasks == []
    with django_capture_on_commit_callbacks(execute=True):
        again = staff_client.post(url, {"dataset": "fmnist-test", "again": "1"})
    assert again.status_code == 302 and EvaluationReport.objects.count() == 2 and len(sent_tasks) == 1
