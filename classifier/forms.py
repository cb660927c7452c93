"""The New run form, used by the staff page and the admin alike."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError

from classifier.services.training import tags_parse
from engine.config import DEFAULT_PRESET, DEVICES, NOTEBOOK, OPTIMIZERS, PRESETS, ConfigError, TrainConfig, parse_budget


def _preset_choices() -> list[tuple[str, str]]:
    return [(name, f"{name}: {preset.description}") for name, preset in PRESETS.items()]


class TrainingRunForm(forms.Form):
    """Blank fields take the preset's defaults, so a user changes only what they mean to."""

    preset = forms.ChoiceField(choices=_preset_choices, initial=DEFAULT_PRESET, widget=forms.RadioSelect)
    budget = forms.CharField(
        required=False, max_length=20, label="Time budget",
        help_text=f"Minutes of training (such as 2), or '{NOTEBOOK}' for as long as the notebook's loop takes on "
                  "the worker; the worker measures its speed and plans the steps to fit. Blank: the preset's.")
    epochs = forms.IntegerField(required=False, min_value=1, max_value=500,
                                help_text="A fixed number of epochs instead of a time budget.")
    batch_size = forms.IntegerField(required=False, min_value=1, max_value=8192)
    lr = forms.FloatField(required=False, min_value=1e-7, max_value=10, label="Learning rate")
    optimizer = forms.ChoiceField(required=False, choices=[("", "preset default")] + [(o, o) for o in OPTIMIZERS])
    seed = forms.IntegerField(required=False, min_value=0, max_value=2**32 - 1, initial=0)
    limit = forms.IntegerField(required=False, min_value=1, label="Train-subset size",
                               help_text="Train on this many images only (blank: all 55,000).")
    device = forms.ChoiceField(choices=[(d, d) for d in DEVICES], initial="auto")
    note = forms.CharField(required=False, max_length=200)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["config"] = TrainConfig.for_preset(
                data["preset"], epochs=data.get("epochs"), batch_size=data.get("batch_size"),
                lr=data.get("lr"), optimizer=data.get("optimizer") or None, seed=data.get("seed"),
                limit=data.get("limit"), device=data.get("device"), **parse_budget(data.get("budget") or ""),
            )
        except ConfigError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data

    def preset_defaults(self) -> dict[str, dict]:
        """For the page's hint text: what each preset fills in when a field is blank."""
        return {
            name: {"length": TrainConfig.for_preset(name).length_in_words(), "batch_size": p.batch_size, "lr": p.lr,
                   "optimizer": p.optimizer}
            for name, p in PRESETS.items()
        }


class RunDescribeForm(forms.Form):
    """A run's note and tags, editable by whoever started it and by staff."""

    note = forms.CharField(required=False, max_length=200,
                           widget=forms.TextInput(attrs={"placeholder": "what this run tries", "size": 50}))
    tags = forms.CharField(required=False, max_length=400, help_text="Separated by commas, such as: baseline, lr-sweep",
                           widget=forms.TextInput(attrs={"placeholder": "baseline, lr-sweep", "size": 40}))

    def clean_tags(self) -> list[str]:
        try:
            return tags_parse(self.cleaned_data["tags"])
        except DjangoValidationError as exc:
            raise forms.ValidationError(exc.messages) from None
