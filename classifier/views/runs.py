from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render

from classifier.charts import run_curves
from classifier.forms import TrainingRunForm
from classifier.selectors import reports as report_selectors
from classifier.selectors import runs as run_selectors
from classifier.selectors import scorecards as scorecard_selectors
from classifier.services import training as training_services
from classifier.views.access import staff_required
from classifier.views.jobs import LIVE_POLL_MS, say_queued


@login_required
def run_list(request):
    return render(request, "classifier/run_list.html", {
        "runs": run_selectors.runs_for_list(),
        "downloadable": run_selectors.checkpoints_downloadable_by(user=request.user),
    })


@staff_required
def run_new(request):
    form = TrainingRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run = training_services.training_run_create(
            created_by=request.user, config=form.cleaned_data["config"], note=form.cleaned_data["note"]
        )
        say_queued(request, run, f"Run #{run.pk} queued.")
        return redirect("run_detail", run_id=run.pk)
    return render(request, "classifier/run_new.html", {"form": form})


def _run_context(request, run) -> dict:
    epochs = run_selectors.run_epochs(run=run)
    best = run_selectors.run_best_checkpoint(run=run)
    reports = report_selectors.reports_for_run(run=run)
    parent = run.parent_checkpoint
    before_after = None
    if parent is not None and best is not None:
        before_after = scorecard_selectors.scorecards_compare(
            this=scorecard_selectors.checkpoint_scorecard(checkpoint=best),
            other=scorecard_selectors.checkpoint_scorecard(checkpoint=parent))
    return {
        "before_after": before_after,
        "run": run,
        "reports": reports,
        # The page keeps polling after the run ends while its automatic report is being made.
        "live_active": run.is_active or any(report.is_active for report in reports),
        "epochs": epochs,
        "curves": run_curves(epochs),
        "checkpoints": run_selectors.run_checkpoints(run=run),
        "best_checkpoint_id": best.pk if best else None,
        "downloadable": run_selectors.checkpoints_downloadable_by(user=request.user),
        "poll_ms": LIVE_POLL_MS,
    }


@login_required
def run_detail(request, run_id: int):
    run = run_selectors.run_get(run_id=run_id)
    return render(request, "classifier/run_detail.html", _run_context(request, run))


@login_required
def run_live(request, run_id: int):
    """The changing part of the run page, fetched every few seconds while the run is active."""
    run = run_selectors.run_get(run_id=run_id)
    return render(request, "classifier/_run_live.html", _run_context(request, run))


@login_required
def checkpoint_download(request, checkpoint_id: int):
    checkpoint = run_selectors.checkpoint_get(checkpoint_id=checkpoint_id)
    if checkpoint.pk not in run_selectors.checkpoints_downloadable_by(user=request.user):
        raise PermissionDenied("Only staff can download this checkpoint; everyone can download the active model's.")
    try:
        handle = run_selectors.checkpoint_file_open_verified(checkpoint=checkpoint)
    except run_selectors.CheckpointFileProblem as problem:
        if problem.missing:
            raise Http404(str(problem)) from None
        # Never hand out bytes that are not the recorded model.
        return HttpResponse(str(problem), status=409, content_type="text/plain; charset=utf-8")
    return FileResponse(handle, as_attachment=True, filename=checkpoint.filename,
                        content_type="application/octet-stream")
