"""The active model: a checkpoint's page with its scorecard, promotion and rollback."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from classifier.forms import all_images_words
from classifier.models import Promotion
from classifier.selectors import estimates as estimate_selectors
from classifier.selectors import exports as export_selectors
from classifier.selectors import photos as photo_selectors
from classifier.selectors import promotions as promotion_selectors
from classifier.selectors import reports as report_selectors
from classifier.selectors import runs as run_selectors
from classifier.selectors import scorecards as scorecard_selectors
from classifier.services import exports as export_services
from classifier.services import promotions as promotion_services
from classifier.services import training as training_services
from classifier.services.worker_calls import WorkerUnavailable
from classifier.views.access import staff_required
from classifier.views.jobs import say_queued
from engine.config import BALANCE_WORDS, BALANCES, DEFAULT_PHOTO_BALANCE, FINETUNE_PHOTO_WEIGHT, TrainConfig


class PromoteForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000,
                             help_text="Kept in the model's history.")
    acknowledge_warnings = forms.BooleanField(required=False, label="I have read the warnings; promote anyway")


class RollbackForm(forms.Form):
    reason = forms.CharField(max_length=2000)


class FinetuneForm(forms.Form):
    """Blank fields take the fine-tune defaults (a few epochs at a fraction of the preset's rate)."""

    with_photos = forms.BooleanField(required=False, initial=True, label="Train on the labelled photos too",
                                     help_text="Only their train part; held-out photos are never trained on.")
    epochs = forms.IntegerField(required=False, min_value=1, max_value=100)
    lr = forms.FloatField(required=False, min_value=1e-7, max_value=10, label="Learning rate")
    photo_weight = forms.FloatField(required=False, min_value=0.01, max_value=0.99, label="Photos' share of a batch",
                                    help_text=f"Default {FINETUNE_PHOTO_WEIGHT:g}: the few photos are drawn that often, with augmentation.")
    photo_balance = forms.ChoiceField(
        required=False, choices=[("", f"default: {BALANCE_WORDS[DEFAULT_PHOTO_BALANCE]}")] + [(b, BALANCE_WORDS[b]) for b in BALANCES],
        label="Balance the photos",
        help_text="So that the class and the source labelled most don't pull every photo their way.")
    seed = forms.IntegerField(required=False, min_value=0, max_value=2**32 - 1)
    limit = forms.IntegerField(required=False, min_value=1, label="Train-subset size",
                               help_text="Fashion-MNIST images per epoch (blank: all); the photos' share comes on top.")
    note = forms.CharField(required=False, max_length=200)

    def __init__(self, *args, parent_config: dict, **kwargs):
        super().__init__(*args, **kwargs)
        # Each blank field shows what it stands for: the fine-tune's defaults for this parent.
        defaults = TrainConfig.for_finetune(parent_config, finetune_from=1)
        for name, text in {"epochs": str(defaults.epochs), "lr": f"{defaults.lr:g}",
                           "photo_weight": f"{defaults.photo_weight:g}", "seed": str(defaults.seed),
                           "limit": all_images_words(defaults.val_size)}.items():
            self.fields[name].widget.attrs["placeholder"] = text


def _comparison_context(checkpoint) -> dict:
    active = promotion_selectors.active_checkpoint()
    candidate_card = scorecard_selectors.checkpoint_scorecard(checkpoint=checkpoint)
    active_card = scorecard_selectors.checkpoint_scorecard(checkpoint=active)
    return {
        "active": active,
        "is_active": active is not None and active.pk == checkpoint.pk,
        "against_active": scorecard_selectors.scorecards_compare(this=candidate_card, other=active_card),
        "review": (review := scorecard_selectors.promotion_review(candidate=candidate_card, active=active_card)),
        "warnings": review.warnings,
    }


@login_required
def checkpoint_detail(request, checkpoint_id: int):
    checkpoint = run_selectors.checkpoint_get(checkpoint_id=checkpoint_id)
    parent = checkpoint.run.parent_checkpoint
    card = scorecard_selectors.checkpoint_scorecard(checkpoint=checkpoint)
    context = {
        "checkpoint": checkpoint,
        "parent": parent,
        "against_parent": scorecard_selectors.scorecards_compare(
            this=card, other=scorecard_selectors.checkpoint_scorecard(checkpoint=parent)) if parent else None,
        "scorecard": card,
        "downloadable": run_selectors.checkpoints_downloadable_by(user=request.user),
        "reports": [r for r in report_selectors.reports_for_run(run=checkpoint.run) if r.checkpoint_id == checkpoint.pk],
        **_comparison_context(checkpoint),
    }
    return render(request, "classifier/checkpoint_detail.html", context)


@staff_required
def checkpoint_promote(request, checkpoint_id: int):
    checkpoint = run_selectors.checkpoint_get(checkpoint_id=checkpoint_id)
    form = PromoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            promotion_services.checkpoint_promote(
                checkpoint=checkpoint, user=request.user, reason=form.cleaned_data["reason"],
                acknowledge_warnings=form.cleaned_data["acknowledge_warnings"],
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages[0])
        else:
            messages.success(request, f"Checkpoint #{checkpoint.pk} (run #{checkpoint.run_id}, epoch "
                                      f"{checkpoint.epoch}) is now the active model.")
            return redirect("model_history")
    context = {"checkpoint": checkpoint, "form": form, **_comparison_context(checkpoint)}
    return render(request, "classifier/checkpoint_promote.html", context)


def finetune_overrides(data: dict) -> dict:
    """The fine-tune form's fields that change the config (blank ones are None: the defaults)."""
    return {"epochs": data["epochs"], "lr": data["lr"], "seed": data["seed"], "limit": data["limit"],
            "photo_weight": data["photo_weight"] if data["with_photos"] else None,
            "photo_balance": (data["photo_balance"] or None) if data["with_photos"] else None}


@staff_required
def checkpoint_finetune(request, checkpoint_id: int):
    checkpoint = run_selectors.checkpoint_get(checkpoint_id=checkpoint_id)
    form = FinetuneForm(request.POST or None, parent_config=checkpoint.run.config)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = training_services.training_run_create_finetune(
                created_by=request.user, parent=checkpoint, with_photos=data["with_photos"], note=data["note"],
                **finetune_overrides(data),
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages[0])
        else:
            say_queued(request, run, f"Run #{run.pk} queued: a fine-tune of checkpoint #{checkpoint.pk}"
                       + (f" with {len(run.photo_snapshot)} labelled photos." if run.photo_snapshot else "."))
            return redirect("run_detail", run_id=run.pk)
    return render(request, "classifier/checkpoint_finetune.html", {
        "checkpoint": checkpoint, "form": form, "train_photos": len(photo_selectors.photos_training_snapshot()),
        "estimate_url": reverse("checkpoint_finetune_estimate", args=[checkpoint.pk]),
        **_finetune_estimate_context(checkpoint, request.POST if request.method == "POST" else {"with_photos": "on"}),
    })


def _finetune_estimate_context(checkpoint, data) -> dict:
    form = FinetuneForm(data, parent_config=checkpoint.run.config)
    if not form.is_valid():
        return {"problem": " ".join(str(e) for errors in form.errors.values() for e in errors), "estimate": None}
    fields = form.cleaned_data
    try:
        config = training_services.finetune_config(parent=checkpoint, with_photos=fields["with_photos"],
                                                   **finetune_overrides(fields))
    except ValidationError as exc:
        return {"problem": " ".join(exc.messages), "estimate": None}
    n_photos = len(photo_selectors.photos_training_snapshot()) if fields["with_photos"] else 0
    return {"problem": None, "estimate": estimate_selectors.run_duration_estimate(config=config, n_photos=n_photos)}


@staff_required
def checkpoint_finetune_estimate(request, checkpoint_id: int):
    """How long the fine-tune form's settings would train on the worker, for the form to show
    before Start (fetched as fields change)."""
    checkpoint = run_selectors.checkpoint_get(checkpoint_id=checkpoint_id)
    return render(request, "classifier/_estimate.html", _finetune_estimate_context(checkpoint, request.GET))


@login_required
def model_history(request):
    active = promotion_selectors.active_checkpoint()
    return render(request, "classifier/model_history.html", {
        "active": active,
        "scorecard": scorecard_selectors.checkpoint_scorecard(checkpoint=active) if active else None,
        "promotions": promotion_selectors.promotions_history(),
        "latest": promotion_selectors.promotion_latest(),
        "rollback_form": RollbackForm(), "choice": promotion_selectors.prediction_choice(),
    })


@require_POST
@staff_required
def promotion_rollback(request, promotion_id: int):
    promotion = get_object_or_404(Promotion, pk=promotion_id)
    form = RollbackForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why you roll back: the reason is kept in the history.")
        return redirect("model_history")
    try:
        promotion_services.promotion_rollback(promotion=promotion, user=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, f"Rolled back: checkpoint #{promotion.previous_id} is the active model again.")
    return redirect("model_history")


@login_required
def checkpoint_export(request, checkpoint_id: int):
    """The checkpoint as a bundle (a zip) that predicts without the app. Who may have it is who
    may download the checkpoint; the first download waits while a worker writes it."""
    checkpoint = run_selectors.checkpoint_get(checkpoint_id=checkpoint_id)
    if checkpoint.pk not in run_selectors.checkpoints_downloadable_by(user=request.user):
        raise PermissionDenied("Only staff can export this checkpoint; everyone can export the active model.")
    try:
        name = export_services.checkpoint_export_ensure(checkpoint=checkpoint)
    except WorkerUnavailable as exc:
        return HttpResponse(f"The export can't be made now: {exc}", status=503, content_type="text/plain; charset=utf-8")
    return FileResponse(default_storage.open(name, "rb"), as_attachment=True,
                        filename=f"{export_selectors.export_folder_name(checkpoint=checkpoint)}.zip",
                        content_type="application/zip")
