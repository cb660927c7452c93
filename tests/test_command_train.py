"""`manage.py train` takes a fixed number of epochs or a time budget, as the New run form does."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from classifier.models import TrainingRun

pytestmark = pytest.mark.django_db


def _train(*args) -> str:
    out = StringIO()
    call_command("train", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_a_budget_in_minutes_or_the_notebooks_time(sent_tasks):
    assert _train("--budget", "2") == f"run {TrainingRun.objects.get().pk} queued (fast, a 2 min budget)"
    run = TrainingRun.objects.get()
    assert run.config["budget_s"] == 120 and run.config["epochs"] is None
    out = _train("--preset", "seed", "--budget", "notebook")
    assert out.endswith("queued (seed, the notebook's training time on the worker)")
    assert _train().endswith("queued (fast, the notebook's training time on the worker)")  # fast's own length
    assert _train("--epochs", "3").endswith("queued (fast, 3 epochs)")


@pytest.mark.parametrize("args, message", [
    (["--budget", "2", "--epochs", "3"], "not both"),
    (["--budget", "later"], "number of minutes"),
    (["--budget", "2000"], "10 seconds to 24 hours"),
])
def test_a_budget_it_cannot_train_is_refused(args, message, sent_tasks):
    with pytest.raises(CommandError, match=message):
        _train(*args)
    assert not TrainingRun.objects.exists()
