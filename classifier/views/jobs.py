"""What every kind of job shares on the web: the cancel confirmation, and a prediction job's page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from classifier.models import Job, PredictionJob
from classifier.selectors.promotions import prediction_choice
from classifier.services import jobs as job_services

# How often a page with a job on it refreshes its live part.
LIVE_POLL_MS = 2000

# What a cancelled job leaves behind, said on the confirmation page.
_KEPT = {
    "run": "The epochs finished so far and their checkpoints are kept.",
    "report": "Nothing is scored; you can evaluate the checkpoint again later.",
    "prediction": "Photos predicted so far keep their new predictions.",
    "label-issues": "No scores are kept; the gallery keeps showing the last finished job's.",
    "preparation": "Photos prepared so far stay ready; the others wait, shown as preparing, for the next upload's job.",
}


def say_queued(request, job: Job, text: str) -> None:
    """Tell the user their job is queued, or, when the queue could not be reached, that it is
    kept and will be sent once the queue is back (never a 500)."""
    # "while-queued": the page's live script drops the message once the job has moved on.
    if job_services.job_send_failed(job):
        messages.warning(request, f"{text} {job_services.QUEUE_UNREACHABLE}", extra_tags="while-queued")
    else:
        messages.success(request, text, extra_tags="while-queued")


def _get_job(kind: str, job_id: int) -> Job:
    model = job_services.JOB_KINDS.get(kind)
    if model is None:
        raise Http404(f"no kind of job called {kind!r}")
    return get_object_or_404(model, pk=job_id)


@login_required
def job_cancel(request, kind: str, job_id: int):
    """GET asks for confirmation; POST cancels. Staff, or whoever started the job."""
    job = _get_job(kind, job_id)
    what = f"{job.kind} #{job.pk}"
    if not job.is_active:
        messages.info(request, f"{what.capitalize()} is {job.status} already.")
        return redirect(job.get_absolute_url())
    if not job_services.job_can_cancel(job=job, user=request.user):
        raise PermissionDenied(f"Only staff or whoever started it can cancel {what}.")
    if request.method == "POST":
        job = job_services.job_cancel(job=job, user=request.user)
        if job.is_finished:
            messages.info(request, f"{what.capitalize()}: cancelled.")
        else:  # "while-active": gone from the page once the job has stopped
            messages.info(request, f"{what.capitalize()}: cancel requested.", extra_tags="while-active")
        return redirect(job.get_absolute_url())
    return render(request, "classifier/job_cancel.html", {"job": job, "what": what, "kept": _KEPT.get(kind, "")})


def _prediction_job_context(job_id: int) -> dict:
    job = get_object_or_404(PredictionJob.objects.select_related("checkpoint", "requested_by", "cancelled_by"),
                            pk=job_id)
    return {"job": job, "poll_ms": LIVE_POLL_MS}


@login_required
def prediction_job_detail(request, job_id: int):
    return render(request, "classifier/prediction_job_detail.html",
                  {**_prediction_job_context(job_id), "choice": prediction_choice()})


@login_required
def prediction_job_live(request, job_id: int):
    return render(request, "classifier/_prediction_job_live.html", _prediction_job_context(job_id))
