from django.urls import reverse

from classifier.models import JobStatus
from tests.factories import CheckpointFactory, TrainingRunFactory, tiny_config
from tests.scoring import scored


def _run(lr: float, val_accs: list[float], fmnist_correct: int):
    run = TrainingRunFactory(status=JobStatus.SUCCEEDED, config=tiny_config(lr=lr).to_dict())
    for epoch, acc in enumerate(val_accs, start=1):
        run.epochs.create(epoch=epoch, train_loss=1 / epoch, train_acc=acc, val_loss=1 / epoch, val_acc=acc,
                          seconds=1.0, lr=lr)
    checkpoint = CheckpointFactory(run=run, epoch=len(val_accs), val_acc=val_accs[-1])
    scored(checkpoint, "fmnist-test", correct=fmnist_correct, total=100)
    return run


def test_compare_shows_overlaid_curves_config_differences_and_scorecards(user_client):
    a, b, c = _run(1e-3, [0.7, 0.8], 85), _run(3e-3, [0.75, 0.82, 0.86], 88), _run(1e-3, [0.6], 70)
    page = user_client.get(reverse("runs_compare"), {"runs": [a.pk, b.pk, c.pk]}).content.decode()
    assert page.count("<svg") == 3
    for run in (a, b, c):
        assert f"#{run.pk}</text>" in page  # a legend entry per run in the curves
    assert "85.00 %" in page and "88.00 %" in page and "70.00 %" in page
    lr_row = page[page.index("<th>lr"):].split("</tr>")[0]
    assert "differs" in lr_row and "0.001" in lr_row and "0.003" in lr_row
    seed_row = page[page.index("<th>seed"):].split("</tr>")[0]
    assert "differs" not in seed_row


def test_compare_needs_two_runs_and_404s_on_unknown_ones(user_client):
    run = _run(1e-3, [0.7], 80)
    assert "Pick two or more runs" in user_client.get(reverse("runs_compare"), {"runs": [run.pk]}).content.decode()
    assert user_client.get(reverse("runs_compare"), {"runs": [run.pk, 99999]}).status_code == 404


def test_run_list_offers_runs_to_compare(user_client):
    run = _run(1e-3, [0.7], 80)
    page = user_client.get(reverse("run_list")).content.decode()
    assert f'name="runs" value="{run.pk}"' in page and "Compare selected" in page
