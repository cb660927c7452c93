"""Two or more runs side by side: curves overlaid, configs with their differences, scorecards."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.http import Http404
from django.utils.safestring import SafeString

from classifier.charts import Series, line_chart
from classifier.models import TrainingRun
from classifier.selectors.runs import run_best_checkpoint, runs_for_list
from classifier.selectors.scorecards import Scorecard, checkpoint_scorecard

MAX_RUNS = 8


@dataclass(frozen=True)
class ConfigRow:
    key: str
    values: list[str]
    differs: bool


@dataclass(frozen=True)
class RunColumn:
    run: TrainingRun
    scorecard: Scorecard


@dataclass(frozen=True)
class RunsComparison:
    columns: list[RunColumn]
    config: list[ConfigRow]
    curves: dict[str, SafeString]


def _shown(value) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value)


def runs_compare(*, run_ids: list[int]) -> RunsComparison:
    ids = list(dict.fromkeys(run_ids))[:MAX_RUNS]
    runs = {run.pk: run for run in runs_for_list().filter(pk__in=ids).prefetch_related("epochs")}
    missing = [i for i in ids if i not in runs]
    if missing:
        raise Http404(f"no run #{missing[0]}")
    ordered = [runs[i] for i in ids]
    keys = list(dict.fromkeys(k for run in ordered for k in run.config))
    config = []
    for key in keys:
        values = [_shown(run.config.get(key)) for run in ordered]
        config.append(ConfigRow(key=key, values=values, differs=len(set(values)) > 1))
    for label, field in (("parent checkpoint", "parent_checkpoint_id"), ("photos trained on", "photo_snapshot")):
        values = [_shown(len(v) if isinstance(v, list) else v) for v in (getattr(run, field) for run in ordered)]
        config.append(ConfigRow(key=label, values=values, differs=len(set(values)) > 1))

    def series(attr: str) -> list[Series]:
        return [Series(f"#{run.pk}", [(e.epoch, getattr(e, attr)) for e in run.epochs.all()]) for run in ordered]

    curves = {
        "val_acc": line_chart(title="Validation accuracy", x_label="epoch", y_label="accuracy", y_format="{:.1%}",
                              series=series("val_acc")),
        "val_loss": line_chart(title="Validation loss", x_label="epoch", y_label="loss", series=series("val_loss")),
        "train_loss": line_chart(title="Training loss", x_label="epoch", y_label="loss", series=series("train_loss")),
    }
    columns = [RunColumn(run=run, scorecard=checkpoint_scorecard(checkpoint=run_best_checkpoint(run=run)))
               for run in ordered]
    return RunsComparison(columns=columns, config=config, curves=curves)
