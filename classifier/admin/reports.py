"""Admin: evaluation reports are written by workers, so they are read-only here; staff start
them with the actions on runs and checkpoints (the same service as the run page's button)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.html import format_html

from classifier.admin.jobs import cancel_jobs
from classifier.models import Checkpoint, EvaluationReport, ReportOrigin
from classifier.selectors.runs import run_best_checkpoint
from classifier.services import evaluation as evaluation_services


def _evaluate(modeladmin, request, checkpoints) -> None:
    queued = []
    try:
        for checkpoint in checkpoints:
            report = evaluation_services.evaluation_report_create(
                checkpoint=checkpoint, requested_by=request.user, origin=ReportOrigin.ADMIN
            )
            queued.append(f"#{report.pk}")
    except PermissionDenied as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
        return
    if queued:
        modeladmin.message_user(request, f"Evaluation on the test set queued: report(s) {', '.join(queued)}.",
                                messages.SUCCESS)
    else:
        modeladmin.message_user(request, "Nothing to evaluate: no checkpoint.", messages.WARNING)


@admin.action(description="Evaluate the best checkpoint on the test set")
def evaluate_best_checkpoints(modeladmin, request, queryset):
    _evaluate(modeladmin, request, [c for c in (run_best_checkpoint(run=run) for run in queryset) if c])


@admin.action(description="Evaluate on the test set")
def evaluate_checkpoints(modeladmin, request, queryset):
    _evaluate(modeladmin, request, list(queryset))


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "epoch", "val_acc", "val_loss", "size", "sha256", "created_at")
    list_filter = ("run__preset",)
    search_fields = ("run__id", "sha256")
    actions = [evaluate_checkpoints]
    readonly_fields = [f.name for f in Checkpoint._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(EvaluationReport)
class EvaluationReportAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "checkpoint_epoch", "dataset_name", "status", "accuracy", "loss", "n_samples",
                    "requested_by", "origin", "created_at", "device", "page_link")
    list_filter = ("status", "dataset_name", "origin")
    search_fields = ("id", "run__id", "dataset_name", "requested_by__username")
    exclude = ("predictions",)
    actions = [cancel_jobs]
    readonly_fields = [f.name for f in EvaluationReport._meta.fields if f.name != "predictions"]

    @admin.display(description="page")
    def page_link(self, report):
        return format_html('<a href="{}">open</a>', reverse("report_detail", args=[report.pk]))

    def get_queryset(self, request):
        return super().get_queryset(request).defer("predictions").select_related("run", "requested_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
