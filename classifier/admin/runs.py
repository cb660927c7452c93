"""Admin: staff start runs here (the same form and service as the New run page), watch and
cancel them. Run records are written by workers, so they are read-only here."""

from django.contrib import admin
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from classifier.admin.jobs import cancel_jobs
from classifier.admin.reports import evaluate_best_checkpoints
from classifier.forms import TrainingRunForm
from classifier.models import Checkpoint, EpochLog, TrainingRun
from classifier.services import training as training_services
from classifier.views.jobs import say_queued


class EpochLogInline(admin.TabularInline):
    model = EpochLog
    extra = 0
    can_delete = False
    fields = readonly_fields = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc", "seconds", "lr")

    def has_add_permission(self, request, obj=None):
        return False


class CheckpointInline(admin.TabularInline):
    model = Checkpoint
    extra = 0
    can_delete = False
    fields = readonly_fields = ("epoch", "val_acc", "val_loss", "size", "sha256", "file")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "preset", "status", "progress_percent", "epochs_done", "created_by", "created_at",
                    "device", "page_link")
    list_filter = ("status", "preset", "tags", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("id", "note", "created_by__username", "tags__name")
    inlines = [EpochLogInline, CheckpointInline]
    actions = [cancel_jobs, evaluate_best_checkpoints]
    # Tags are set on the run's page (training_run_describe: parsed and normalised there).
    readonly_fields = [f.name for f in TrainingRun._meta.fields if f.name != "note"] + ["tags"]

    @admin.display(description="progress")
    def progress_percent(self, run):
        return f"{run.progress * 100:.0f} %"

    @admin.display(description="page")
    def page_link(self, run):
        return format_html('<a href="{}">open</a>', reverse("run_detail", args=[run.pk]))

    def add_view(self, request, form_url="", extra_context=None):
        """Starting a run is not saving a model form: it goes through training_run_create."""
        if not self.has_add_permission(request):
            return self.changeform_view(request, None, form_url, extra_context)
        form = TrainingRunForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            run = training_services.training_run_create(
                created_by=request.user, config=form.cleaned_data["config"], note=form.cleaned_data["note"]
            )
            say_queued(request, run, f"Run #{run.pk} queued.")
            return redirect("run_detail", run_id=run.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Start a training run",
            "opts": self.model._meta,
            "form": form,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/classifier/trainingrun/add.html", context)

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_staff
