"""`manage.py evaluate`: in-process evaluation through the worker's service, its text, its JSON,
and its refusals (clear messages, a non-zero exit, no traceback)."""

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from classifier.models import EvaluationReport, JobStatus, ReportOrigin
from tests.factories import CheckpointFactory, StaffFactory, TrainingRunFactory, UserFactory, real_checkpoint
from tests.workers import REPO, TEST_BROKER_URL, database_url


def _evaluate(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("evaluate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_evaluates_a_checkpoint_prints_the_figures_and_saves_the_report(db, trained_weights, small_test_set,
                                                                           tmp_path):
    checkpoint = real_checkpoint(trained_weights)
    out, err = _evaluate("--checkpoint", str(checkpoint.pk), "--json", str(tmp_path / "r.json"))
    report = EvaluationReport.objects.get()
    assert report.status == JobStatus.SUCCEEDED and report.checkpoint == checkpoint
    assert report.origin == ReportOrigin.COMMAND and report.n_samples == 500
    assert f"accuracy {report.accuracy * 100:.2f} %" in out
    assert "confusion matrix (rows: true class" in out and f"report {report.pk} saved" in out
    assert "500/500" in err  # the progress bar, on stderr
    for name, row in zip(report.class_names, report.confusion_matrix):
        assert re.search(rf"{re.escape(name)}\s+" + r"\s+".join(map(str, row)) + r"\s*$", out, re.M), name

    figures = json.loads((tmp_path / "r.json").read_text())
    assert figures["accuracy"] == report.accuracy and figures["n"] == 500 and figures["report"] == report.pk
    assert figures["confusion_matrix"] == report.confusion_matrix
    assert [c["support"] for c in figures["per_class"]] == [sum(row) for row in report.confusion_matrix]
    assert figures["per_class"][6]["class"] == "Shirt" and set(figures["per_class"][6]) >= {"precision", "recall", "f1"}


def test_the_printed_figures_equal_the_report_page_to_the_last_digit(db, trained_weights, small_test_set, client):
    checkpoint = real_checkpoint(trained_weights)
    out, _ = _evaluate("--checkpoint", str(checkpoint.pk))
    report = EvaluationReport.objects.get()
    client.force_login(StaffFactory())
    page = client.get(reverse("report_detail", args=[report.pk])).content.decode()

    def on_page(element_id):
        return re.search(rf'id="{element_id}">([^<]+)<', page).group(1)

    assert f"accuracy {on_page('report-accuracy')}   loss {on_page('report-loss')}   ECE {on_page('report-ece')}" in out
    page_rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td><td>(\d+)</td>\s*<td",
                           page.split('id="per-class"')[1])
    assert len(page_rows) == 10
    for name, precision, recall, f1, support in page_rows:
        name = name.replace("&#x2F;", "/")
        assert re.search(rf"^{re.escape(name)}\s+{re.escape(precision)}\s+{re.escape(recall)}\s+{re.escape(f1)}"
                         rf"\s+{support}\s", out, re.M), name


def test_run_takes_the_runs_best_checkpoint(db, trained_weights, small_test_set):
    run = TrainingRunFactory(status=JobStatus.SUCCEEDED)
    real_checkpoint(trained_weights, run=run, epoch=1, val_acc=0.6)
    best = real_checkpoint(trained_weights, run=run, epoch=2, val_acc=0.7)
    _evaluate("--run", str(run.pk))
    assert EvaluationReport.objects.get().checkpoint == best


def test_latest_takes_the_latest_succeeded_run(db, trained_weights, small_test_set):
    older = real_checkpoint(trained_weights, run=TrainingRunFactory(status=JobStatus.SUCCEEDED))
    newer = real_checkpoint(trained_weights, run=TrainingRunFactory(status=JobStatus.SUCCEEDED))
    type(newer.run).objects.filter(pk=older.run_id).update(finished_at="2026-01-01T00:00:00Z")
    type(newer.run).objects.filter(pk=newer.run_id).update(finished_at="2026-02-01T00:00:00Z")
    CheckpointFactory(run=TrainingRunFactory(status=JobStatus.FAILED))
    _evaluate("--latest")
    assert EvaluationReport.objects.get().checkpoint == newer


def test_async_queues_the_report_on_the_worker_and_returns(db, sent_tasks, django_capture_on_commit_callbacks):
    checkpoint = CheckpointFactory()
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = _evaluate("--checkpoint", str(checkpoint.pk), "--async")
    report = EvaluationReport.objects.get()
    assert out.strip() == f"report {report.pk} queued (run {checkpoint.run_id}, epoch 1, fmnist-test)"
    assert report.status == JobStatus.QUEUED and sent_tasks == [("worker.tasks.evaluate_report", report.pk)]


@pytest.mark.parametrize("args, message", [
    (["--run", "999"], "no run with id 999"),
    (["--checkpoint", "999"], "no checkpoint with id 999"),
    (["--latest"], "no succeeded run with a checkpoint yet"),
    ([], "one of the arguments --run --checkpoint --latest is required"),
    (["--run", "1", "--checkpoint", "1"], "not allowed with argument"),
])
def test_unknown_ids_and_bad_arguments_are_clear_errors(db, args, message):
    with pytest.raises(CommandError, match=message):
        _evaluate(*args)
    assert not EvaluationReport.objects.exists()


def test_a_run_without_checkpoints_is_a_clear_error(db):
    run = TrainingRunFactory(status=JobStatus.FAILED)
    with pytest.raises(CommandError, match=f"run {run.pk} has no checkpoint"):
        _evaluate("--run", str(run.pk))


def test_an_unknown_dataset_is_a_clear_error(db):
    with pytest.raises(CommandError, match="unknown dataset 'mnist'"):
        _evaluate("--checkpoint", str(CheckpointFactory().pk), "--dataset", "mnist")


def test_a_non_staff_user_is_refused(db):
    with pytest.raises(CommandError, match="not staff"):
        _evaluate("--checkpoint", str(CheckpointFactory().pk), "--user", UserFactory().username)


def test_a_missing_checkpoint_file_is_a_clear_error_and_a_failed_report(db):
    checkpoint = CheckpointFactory()
    with pytest.raises(CommandError, match=r"failed: The checkpoint file .*epoch-001.pt is missing"):
        _evaluate("--checkpoint", str(checkpoint.pk))
    assert EvaluationReport.objects.get().status == JobStatus.FAILED


def test_a_tampered_checkpoint_exits_non_zero_with_a_message_not_a_traceback(transactional_db, trained_weights,
                                                                             tmp_path):
    checkpoint = real_checkpoint(trained_weights)
    path = Path(checkpoint.file.path)
    path.write_bytes(path.read_bytes()[:-10] + b"tampered!!")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fmnistsite.test_settings", "DATABASE_URL": database_url(),
           "CELERY_BROKER_URL": TEST_BROKER_URL, "CHECKPOINT_ROOT": str(path.parents[1])}
    result = subprocess.run([sys.executable, "manage.py", "evaluate", "--checkpoint", str(checkpoint.pk)], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "has changed since it was written" in result.stderr and "refusing to use it" in result.stderr
    assert "Traceback" not in result.stderr
    report = EvaluationReport.objects.get()
    assert report.status == JobStatus.FAILED and checkpoint.sha256[:12] in report.error
