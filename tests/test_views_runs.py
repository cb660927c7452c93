from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from classifier.models import JobStatus, TrainingRun
from engine.config import TrainConfig
from tests.factories import PromotionFactory, TrainingRunFactory, checkpoint_with_file


@pytest.fixture
def no_enqueue(sent_tasks):
    return sent_tasks


def _with_epoch(run):
    run.epochs.create(epoch=1, train_loss=0.61, train_acc=0.78, val_loss=0.52, val_acc=0.8125, seconds=3.5, lr=1e-3)
    return run


def test_run_list_shows_runs_to_signed_in_users(user_client):
    run = _with_epoch(TrainingRunFactory(status=JobStatus.SUCCEEDED, note="first try"))
    page = user_client.get(reverse("run_list")).content.decode()
    assert f"#{run.pk}" in page and "first try" in page and "81.25 %" in page and "succeeded" in page


def test_run_page_shows_epochs_curves_and_config(user_client):
    run = _with_epoch(TrainingRunFactory())
    page = user_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "0.6100" in page and "81.25 %" in page and "<svg" in page and "1.00e-03" in page
    assert "Cancel run" not in page  # not staff


def test_live_fragment_carries_status_and_progress(user_client):
    run = TrainingRunFactory(status=JobStatus.RUNNING, progress=0.5, epochs_done=1)
    page = user_client.get(reverse("run_live", args=[run.pk])).content.decode()
    assert 'data-active="1"' in page and "1 of 2 epochs" in page and "50 %" in page


def test_anonymous_users_are_sent_to_login(client, db):
    run = TrainingRunFactory()
    for url in (reverse("run_list"), reverse("run_detail", args=[run.pk]), reverse("run_new")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_non_staff_cannot_start_or_cancel(user_client, no_enqueue):
    run = TrainingRunFactory()
    assert user_client.get(reverse("run_new")).status_code == 403
    assert user_client.post(reverse("run_new"), {"preset": "seed", "device": "auto"}).status_code == 403
    assert user_client.get(reverse("job_cancel", args=["run", run.pk])).status_code == 403
    assert user_client.post(reverse("job_cancel", args=["run", run.pk])).status_code == 403
    assert TrainingRun.objects.count() == 1 and no_enqueue == []
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED


def test_staff_start_a_run_with_preset_defaults_filling_blanks(staff_client, no_enqueue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("run_new"), {"preset": "seed", "epochs": "3", "limit": "1000",
                                                          "seed": "5", "device": "cpu", "optimizer": ""})
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("run_detail", args=[run.pk])
    assert run.config["epochs"] == 3 and run.config["batch_size"] == 64 and run.config["lr"] == 1e-3
    assert run.config["limit"] == 1000 and run.seed == 5 and run.config["device"] == "cpu"
    assert no_enqueue == [("worker.tasks.train_run", run.pk)]


@pytest.mark.parametrize("preset, budget, expected", [
    ("fast", "", {"epochs": None, "budget_notebook": True, "budget_s": None}),  # the fast preset's own length
    ("seed", "", {"epochs": 10, "budget_notebook": False, "budget_s": None}),
    ("best", "2", {"epochs": None, "budget_notebook": False, "budget_s": 120.0}),
    ("seed", "notebook", {"epochs": None, "budget_notebook": True, "budget_s": None}),
])
def test_the_new_run_form_takes_a_time_budget(staff_client, no_enqueue, preset, budget, expected):
    response = staff_client.post(reverse("run_new"), {"preset": preset, "budget": budget, "device": "auto"})
    assert response.status_code == 302
    config = TrainingRun.objects.get().config
    assert {key: config[key] for key in expected} == expected


@pytest.mark.parametrize("fields, message", [
    ({"budget": "soon"}, "a time budget is a number of minutes"),
    ({"budget": "2", "epochs": "3"}, "either a number of epochs or a time budget, not both"),
    ({"budget": "0.1"}, "10 seconds to 24 hours"),
])
def test_the_form_refuses_a_budget_it_cannot_train(staff_client, no_enqueue, fields, message):
    response = staff_client.post(reverse("run_new"), {"preset": "fast", "device": "auto", **fields})
    assert response.status_code == 200 and message in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_a_budgeted_run_page_shows_its_budget_and_the_time_used(user_client):
    run = TrainingRunFactory(status=JobStatus.RUNNING, config={**TrainConfig.for_preset("fast").to_dict()},
                             plan={"epochs": 9, "total_steps": 3800, "batches_per_epoch": 430, "budget_s": 515.0,
                                   "step_s": 0.128, "notebook_s": 515.0, "probe_s": 3.2})
    run.epochs.create(epoch=1, train_loss=0.6, train_acc=0.8, val_loss=0.5, val_acc=0.8, seconds=60, lr=1e-3,
                      train_seconds=55.0)
    page = user_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    budget = page[page.index('id="run-budget"'):][:600]
    assert "the notebook's training time on the worker, measured there: 8 min 35 s" in budget
    assert "training time used 58.2 s" in budget and "planned 3800 steps in 9 epochs at 128 ms a step" in budget
    assert "0 of 9 epochs" in page  # the epochs done are the worker's to count


def test_the_form_reports_bad_values(staff_client, no_enqueue):
    response = staff_client.post(reverse("run_new"), {"preset": "seed", "epochs": "0", "device": "auto"})
    assert response.status_code == 200 and "greater than or equal to 1" in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_staff_cancel_a_running_run_after_confirming(staff_client, staff_user):
    run = TrainingRunFactory(status=JobStatus.RUNNING, worker_host="gpu-1 (pid 7)")
    page = staff_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    url = reverse("job_cancel", args=["run", run.pk])
    assert f'href="{url}"' in page
    confirm = staff_client.get(url).content.decode()
    assert "Cancel run #" in confirm and "stops it at its next batch" in confirm and "checkpoints are kept" in confirm
    run.refresh_from_db()
    assert not run.cancel_requested  # asking is not doing
    response = staff_client.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("run_detail", args=[run.pk])
    run.refresh_from_db()
    assert run.cancel_requested and run.status == JobStatus.RUNNING and run.cancelled_by == staff_user
    page = staff_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert f"cancel requested by {staff_user.username}" in page and f'href="{url}"' not in page


def test_posts_without_csrf_token_are_refused(staff_user, no_enqueue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    run = TrainingRunFactory()
    assert client.post(reverse("run_new"), {"preset": "seed", "device": "auto"}).status_code == 403
    assert client.post(reverse("job_cancel", args=["run", run.pk])).status_code == 403
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED and TrainingRun.objects.count() == 1


def test_admin_starts_a_run_through_the_service(staff_client, no_enqueue, django_capture_on_commit_callbacks):
    add_url = reverse("admin:classifier_trainingrun_add")
    assert "Start training" in staff_client.get(add_url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(add_url, {"preset": "fast", "epochs": "1", "device": "auto"})
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and run.config["preset"] == "fast" and run.config["epochs"] == 1
    assert no_enqueue == [("worker.tasks.train_run", run.pk)]


def test_staff_download_any_checkpoint_and_see_its_link(staff_client):
    checkpoint = checkpoint_with_file()
    url = reverse("checkpoint_download", args=[checkpoint.pk])
    response = staff_client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == f"checkpoint {checkpoint.pk}".encode()
    assert f"run{checkpoint.run_id}-epoch001.pt" in response["Content-Disposition"]
    assert url in staff_client.get(reverse("run_list")).content.decode()


def test_other_users_download_only_the_model_that_predicts_the_photos(user_client, client):
    experiment = checkpoint_with_file(val_acc=0.95)
    active = checkpoint_with_file(val_acc=0.90)
    PromotionFactory(checkpoint=active)
    active_url = reverse("checkpoint_download", args=[active.pk])
    experiment_url = reverse("checkpoint_download", args=[experiment.pk])
    response = user_client.get(active_url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == f"checkpoint {active.pk}".encode()
    assert user_client.get(experiment_url).status_code == 403
    # The pages offer the link only where it works.
    assert active_url in user_client.get(reverse("checkpoint_detail", args=[active.pk])).content.decode()
    assert experiment_url not in user_client.get(reverse("checkpoint_detail", args=[experiment.pk])).content.decode()
    page = user_client.get(reverse("run_detail", args=[experiment.run_id])).content.decode()
    assert experiment_url not in page
    client.logout()
    assert client.get(active_url).status_code == 302  # to the sign-in page


def test_a_changed_or_missing_checkpoint_file_is_not_downloaded(staff_client):
    checkpoint = checkpoint_with_file()
    path = Path(checkpoint.file.path)
    path.write_bytes(b"not what was written")
    url = reverse("checkpoint_download", args=[checkpoint.pk])
    response = staff_client.get(url)
    assert response.status_code == 409 and b"has changed since it was written" in response.content
    path.unlink()
    assert staff_client.get(url).status_code == 404
