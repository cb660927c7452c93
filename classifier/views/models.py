"""The active model: a checkpoint's page with its scorecard, promotion and rollback."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from classifier.models import Promotion
from classifier.selectors import promotions as promotion_selectors
from classifier.selectors import reports as report_selectors
from classifier.selectors import runs as run_selectors
from classifier.selectors import scorecards as scorecard_selectors
from classifier.services import promotions as promotion_services
from classifier.views.access import staff_required


class PromoteForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000,
                             help_text="Kept in the model's history.")
    acknowledge_warnings = forms.BooleanField(required=False, label="I have read the warnings; promote anyway")


class RollbackForm(forms.Form):
    reason = forms.CharField(max_length=2000)


def _comparison_context(checkpoint) -> dict:
    active = promotion_selectors.active_checkpoint()
    candidate_card = scorecard_selectors.checkpoint_scorecard(checkpoint=checkpoint)
    active_card = scorecard_selectors.checkpoint_scorecard(checkpoint=active)
    return {
        "active": active,
        "is_active": active is not None and active.pk == checkpoint.pk,
        "against_active": scorecard_selectors.scorecards_compare(this=candidate_card, other=active_card),
        "warnings": scorecard_selectors.promotion_warnings(candidate=candidate_card, active=active_card),
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


@login_required
def model_history(request):
    active = promotion_selectors.active_checkpoint()
    return render(request, "classifier/model_history.html", {
        "active": active,
        "scorecard": scorecard_selectors.checkpoint_scorecard(checkpoint=active) if active else None,
        "promotions": promotion_selectors.promotions_history(),
        "latest": promotion_selectors.promotion_latest(),
        "rollback_form": RollbackForm(),
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
