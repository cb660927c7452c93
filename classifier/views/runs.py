from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from classifier.charts import run_curves
from classifier.forms import RunDescribeForm, TrainingRunForm, preset_placeholders
from classifier.models import JobStatus
from classifier.selectors import estimates as estimate_selectors
from classifier.selectors import reports as report_selectors
from classifier.selectors import runs as run_selectors
from classifier.selectors import scorecards as scorecard_selectors
from classifier.selectors.promotions import prediction_choice
from classifier.services import training as training_services
from classifier.views.access import staff_required
from classifier.views.fragments import cached_fragments, loaded_fields
from classifier.views.jobs import LIVE_POLL_MS, say_queued

# The run list's columns, in order: (sort key or None, heading).
_COLUMNS = [
    ("id", "Run"), ("preset", "Preset"), ("status", "Status"), ("progress", "Progress"), ("val", "Best val acc"),
    ("test", "Test acc"), ("photos", "Photo acc"), ("duration", "Duration"), ("by", "Started by"),
    ("created", "Created"), (None, "Checkpoints"),
]


def _row_drawn_from(run, *, user, choice, downloadable) -> tuple:
    """Everything a run's row is drawn from: its run, checkpoints, tags, parent, the active
    model and this user's rights."""
    return (loaded_fields(run), [loaded_fields(c) for c in run.checkpoints.all()], [t.name for t in run.tags.all()],
            loaded_fields(run.parent_checkpoint), loaded_fields(run.created_by),
            loaded_fields(choice.checkpoint) if choice else (), bool(choice and choice.promoted),
            downloadable.every, sorted(downloadable.ids), user.pk, user.is_staff)


def _run_list_context(request) -> dict:
    filters = run_selectors.RunFilters.from_query(request.GET)
    paginator = Paginator(run_selectors.runs_for_list(filters=filters), run_selectors.RUNS_PER_PAGE)
    paginator.count = run_selectors.runs_count(filters=filters)  # a cached_property: the cheaper count
    page = paginator.get_page(request.GET.get("page"))
    kept = filters.as_query()
    columns = []
    for key, heading in _COLUMNS:
        if key is None:
            columns.append({"heading": heading})
            continue
        # A first click sorts figures best first (descending), words A to Z; a second click reverses.
        current = filters.sort.removeprefix("-") == key
        descending = filters.sort.startswith("-")
        first = "" if key in ("preset", "status", "by") else "-"
        sort = (key if descending else f"-{key}") if current else f"{first}{key}"
        columns.append({"heading": heading, "key": key, "url": "?" + urlencode({**kept, "sort": sort}),
                        "arrow": ("▼" if descending else "▲") if current else "",
                        "aria_sort": ("descending" if descending else "ascending") if current else "none"})
    choice = prediction_choice()
    active = choice.checkpoint if choice else None
    runs = list(page.object_list)
    downloadable = run_selectors.checkpoints_downloadable_by(user=request.user, active=active)
    rows = cached_fragments(
        request, "classifier/_run_row.html", runs,
        context=lambda run: {"run": run, "user": request.user, "active_checkpoint": active,
                             "active_promoted": bool(choice and choice.promoted), "downloadable": downloadable},
        drawn_from=lambda run: _row_drawn_from(run, user=request.user, choice=choice, downloadable=downloadable))
    for run, row in zip(runs, rows):
        run.row = row
    return {
        "runs": runs,
        "page": page,
        "filters": filters,
        "columns": columns,
        "pager_query": urlencode(kept),
        "live_query": urlencode({**kept, "page": page.number}),
        "choices": run_selectors.run_list_choices(),
        "statuses": JobStatus.values,
        "archived_choices": run_selectors.ARCHIVED_CHOICES,
        "active_checkpoint": active, "active_promoted": bool(choice and choice.promoted),
        "downloadable": downloadable,
        "live_active": any(run.is_active for run in runs),
        "poll_ms": LIVE_POLL_MS,
    }


@login_required
def run_list(request):
    return render(request, "classifier/run_list.html", _run_list_context(request))


@login_required
def run_list_live(request):
    """The run list's table, fetched every few seconds while a run on the page is active."""
    return render(request, "classifier/_run_list_live.html", _run_list_context(request))


def _get_run_for_edit(request, run_id: int):
    run = run_selectors.run_get(run_id=run_id)
    if not training_services.training_run_can_edit(run=run, user=request.user):
        raise PermissionDenied(f"Only staff or whoever started run #{run.pk} can change its note, tags or archive it.")
    return run


@login_required
@require_POST
def run_describe(request, run_id: int):
    run = _get_run_for_edit(request, run_id)
    form = RunDescribeForm(request.POST)
    if form.is_valid():
        training_services.training_run_describe(run=run, user=request.user, note=form.cleaned_data["note"],
                                                tags=form.cleaned_data["tags"])
        messages.success(request, f"Run #{run.pk}: note and tags saved.")
    else:
        messages.error(request, f"Run #{run.pk}: nothing saved. " + " ".join(
            str(error) for errors in form.errors.values() for error in errors))
    return redirect("run_detail", run_id=run.pk)


@login_required
@require_POST
def run_archive(request, run_id: int):
    """POST archived=1 hides the run from the list, archived=0 brings it back."""
    run = _get_run_for_edit(request, run_id)
    archived = request.POST.get("archived") == "1"
    try:
        training_services.training_run_archive(run=run, user=request.user, archived=archived)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Run #{run.pk} archived: it is kept, and hidden from the run list unless you ask "
                         "for archived runs." if archived else f"Run #{run.pk} is back in the run list.")
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure()):
        return redirect(back)
    return redirect("run_detail", run_id=run.pk)


@staff_required
def run_new(request):
    form = TrainingRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run = training_services.training_run_create(
            created_by=request.user, config=form.cleaned_data["config"], note=form.cleaned_data["note"]
        )
        say_queued(request, run, f"Run #{run.pk} queued.")
        return redirect("run_detail", run_id=run.pk)
    return render(request, "classifier/run_new.html", {
        "form": form, "placeholders": preset_placeholders(), "estimate_url": reverse("run_estimate"),
        **_estimate_context(form.data if form.is_bound else {"preset": form.fields["preset"].initial,
                                                              "device": "auto"}),
    })


def _estimate_context(data) -> dict:
    form = TrainingRunForm(data)
    if not form.is_valid():
        return {"problem": " ".join(str(e) for errors in form.errors.values() for e in errors), "estimate": None}
    return {"problem": None, "estimate": estimate_selectors.run_duration_estimate(config=form.cleaned_data["config"])}


@staff_required
def run_estimate(request):
    """How long the New run form's settings would train on the worker, for the form to show
    before Start (fetched as fields change)."""
    return render(request, "classifier/_estimate.html", _estimate_context(request.GET))


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
    context = _run_context(request, run)
    if training_services.training_run_can_edit(run=run, user=request.user):
        context["describe_form"] = RunDescribeForm(initial={
            "note": run.note, "tags": ", ".join(tag.name for tag in run.tags.all())})
    return render(request, "classifier/run_detail.html", context)


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
