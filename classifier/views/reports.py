from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from classifier.models import EvaluationReport, ReportOrigin
from classifier.selectors import reports as report_selectors
from classifier.selectors import runs as run_selectors
from classifier.services import evaluation as evaluation_services
from classifier.views.access import staff_required
from classifier.views.jobs import LIVE_POLL_MS, say_queued
from dataset.eval_sets import FMNIST_TEST


def _report_context(report: EvaluationReport) -> dict:
    return {
        "report": report,
        "poll_ms": LIVE_POLL_MS,
        **report_selectors.report_page_data(report=report),
        "comparable": report_selectors.reports_comparable(report=report) if report.succeeded else [],
    }


@login_required
def report_detail(request, report_id: int):
    report = report_selectors.report_get(report_id=report_id, with_predictions=True)
    return render(request, "classifier/report_detail.html", _report_context(report))


@login_required
def report_live(request, report_id: int):
    """The report page's body, fetched every few seconds while the report is queued or running."""
    report = report_selectors.report_get(report_id=report_id, with_predictions=True)
    return render(request, "classifier/_report_live.html", _report_context(report))


@login_required
def report_cell(request, report_id: int, true_class: int, predicted_class: int):
    """One cell of the confusion matrix: exactly its images, most confident first, paged."""
    report = report_selectors.report_get(report_id=report_id, with_predictions=True)
    if not report.succeeded:
        return redirect("report_detail", report_id=report.pk)
    page, samples = report_selectors.confusion_cell_samples(
        report=report, true_class=true_class, predicted_class=predicted_class, page=request.GET.get("page", 1)
    )
    names = report.class_names
    return render(request, "classifier/report_cell.html", {
        "report": report, "page": page, "samples": samples,
        "true_class": true_class, "predicted_class": predicted_class,
        "true_name": names[true_class], "predicted_name": names[predicted_class],
        "count": report.confusion_matrix[true_class][predicted_class],
        "row_total": sum(report.confusion_matrix[true_class]),
    })


def _report_id(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@login_required
def report_compare(request):
    """Two reports side by side: ?a=ID&b=ID. The difference is always b - a, and given only
    when both scored the same images."""
    a_id, b_id = _report_id(request.GET.get("a")), _report_id(request.GET.get("b"))
    choices = report_selectors.reports_succeeded()
    context = {"choices": choices, "same_report": a_id is not None and a_id == b_id}
    if a_id is not None and b_id is not None and a_id != b_id:
        a = report_selectors.report_get(report_id=a_id)
        b = report_selectors.report_get(report_id=b_id)
        context["comparison"] = report_selectors.reports_compare(a=a, b=b)
    else:
        # Never offer the same report twice: B defaults to another report, on A's dataset if any.
        a_id, b_id = report_selectors.reports_compare_defaults(choices=choices, a_id=a_id, b_id=b_id)
    context.update(a_id=a_id, b_id=b_id)
    return render(request, "classifier/report_compare.html", context)


@require_POST
@staff_required
def checkpoint_evaluate(request, checkpoint_id: int):
    checkpoint = run_selectors.checkpoint_get(checkpoint_id=checkpoint_id)
    dataset_name = request.POST.get("dataset") or FMNIST_TEST
    existing = report_selectors.report_existing(checkpoint=checkpoint, dataset_name=dataset_name)
    if existing is not None and request.POST.get("again") != "1":
        # Scoring the same file on the same images gives the same figures: offer what is there.
        return render(request, "classifier/checkpoint_evaluate_existing.html",
                      {"checkpoint": checkpoint, "report": existing, "dataset_name": dataset_name})
    try:
        report = evaluation_services.evaluation_report_create(
            checkpoint=checkpoint, dataset_name=dataset_name,
            requested_by=request.user, origin=ReportOrigin.PAGE,
        )
    except evaluation_services.UnknownDataset as exc:
        messages.error(request, str(exc))
        return redirect("run_detail", run_id=checkpoint.run_id)
    say_queued(request, report, f"Report #{report.pk} {report.status}: epoch {checkpoint.epoch} on {report.dataset_label}.")
    return redirect("report_detail", report_id=report.pk)
