"""The New run form, used by the staff page and the admin alike."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError

from classifier.services.training import tags_parse
from dataset.fashion_mnist import TRAIN_SIZE
from engine.config import DEFAULT_PRESET, DEVICES, NOTEBOOK, OPTIMIZERS, PRESETS, ConfigError, TrainConfig, parse_budget


def _preset_choices() -> list[tuple[str, str]]:
    return [(name, f"{name}: {preset.description}") for name, preset in PRESETS.items()]


def all_images_words(val_size: int = TrainConfig.val_size) -> str:
    return f"all {TRAIN_SIZE - val_size:,}"


def preset_placeholders() -> dict[str, dict[str, str]]:
    """Per preset, what a blank field of the New run form stands for."""
    return {
        name: {
            "budget": NOTEBOOK if p.budget == NOTEBOOK else "none: fixed epochs",
            "epochs": f"set by the budget (about {p.epochs})" if p.budget else str(p.epochs),
            "batch_size": str(p.batch_size), "lr": f"{p.lr:g}", "optimizer": f"preset default ({p.optimizer})",
            "seed": "0", "limit": all_images_words(),
        }
        for name, p in PRESETS.items()
    }


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
    seed = forms.IntegerField(required=False, min_value=0, max_value=2**32 - 1)
    limit = forms.IntegerField(required=False, min_value=1, label="Train-subset size",
                               help_text=f"Train on this many images only (blank: {all_images_words()}).")
    device = forms.ChoiceField(choices=[(d, d) for d in DEVICES], initial="auto")
    note = forms.CharField(required=False, max_length=200,
                           widget=forms.TextInput(attrs={"placeholder": "what this run tries"}))

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        preset = self.data.get("preset") if self.is_bound else None
        self.set_placeholders(preset if preset in PRESETS else DEFAULT_PRESET)

    def set_placeholders(self, preset: str) -> None:
        """Each blank field shows the value it stands for with this preset (the page's script
        swaps them when another preset is picked, from preset_placeholders())."""
        for name, text in preset_placeholders()[preset].items():
            if name == "optimizer":
                self.fields[name].choices = [("", text)] + [(o, o) for o in OPTIMIZERS]
            else:
                self.fields[name].widget.attrs["placeholder"] = text

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
