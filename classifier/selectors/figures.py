"""The data behind each downloadable figure, read from the records and handed to
classifier.figures to draw; and a report's data as CSV and JSON."""

from __future__ import annotations

import csv
import io
import json

from django.http import Http404

from classifier import figures
from classifier.models import EvaluationReport, TrainingRun
from classifier.selectors.compare import MAX_RUNS
from classifier.selectors.reports import report_classes, report_figures, report_macro
from classifier.selectors.runs import runs_for_list

RUN_FIGURES = {"loss": "Loss", "accuracy": "Accuracy"}
COMPARE_FIGURES = {"val_acc": ("Validation accuracy", "accuracy", True), "val_loss": ("Validation loss", "loss", False),
                   "train_loss": ("Training loss", "loss", False)}
REPORT_FIGURES = ("confusion", "reliability", "per-class")
REPORT_TABLES = ("per-class", "confusion")


def _known(name: str, known) -> None:
    if name not in known:
        raise Http404(f"no figure {name!r}; there are: {', '.join(known)}")


def run_figure(*, run: TrainingRun, name: str, fmt: str, style: figures.Style) -> bytes:
    """A run's loss or accuracy curves, train and validation."""
    _known(name, RUN_FIGURES)
    epochs = list(run.epochs.order_by("epoch"))
    field = "loss" if name == "loss" else "acc"
    lines = [figures.Line(label, [e.epoch for e in epochs], [getattr(e, f"{prefix}_{field}") for e in epochs])
             for label, prefix in (("train", "train"), ("validation", "val"))]
    return figures.lines_figure(title=f"Run #{run.pk} ({run.preset}): {RUN_FIGURES[name].lower()}", x_label="epoch",
                                y_label=name, lines=lines, fmt=fmt, style=style, percent=name == "accuracy")


def runs_compare_figure(*, run_ids: list[int], name: str, fmt: str, style: figures.Style) -> bytes:
    """Several runs' curves overlaid, each run its own colour, dash and marker."""
    _known(name, COMPARE_FIGURES)
    ids = list(dict.fromkeys(run_ids))[:MAX_RUNS]
    runs = {run.pk: run for run in runs_for_list().filter(pk__in=ids).prefetch_related("epochs")}
    if len(runs) < 2 or len(runs) != len(ids):
        raise Http404("pick two or more existing runs")
    title, y_label, percent = COMPARE_FIGURES[name]
    lines = []
    for pk in ids:
        epochs = sorted(runs[pk].epochs.all(), key=lambda e: e.epoch)
        lines.append(figures.Line(f"#{pk} {runs[pk].preset}" + (f" · {runs[pk].note[:24]}" if runs[pk].note else ""),
                                  [e.epoch for e in epochs], [getattr(e, name) for e in epochs]))
    return figures.lines_figure(title=title, x_label="epoch", y_label=y_label, lines=lines, fmt=fmt, style=style,
                                percent=percent)


def report_figure(*, report: EvaluationReport, name: str, fmt: str, style: figures.Style) -> bytes:
    _known(name, REPORT_FIGURES)
    if not report.succeeded:
        raise Http404(f"report #{report.pk} is {report.status}: no figures yet")
    what = f"Run #{report.run_id} epoch {report.checkpoint_epoch} on {report.dataset_label}"
    if name == "confusion":
        return figures.confusion_figure(matrix=report.confusion_matrix, class_names=report.class_names,
                                        title=f"{what} (n={report.n_samples})", fmt=fmt, style=style)
    if name == "reliability":
        calibration = report.metrics["calibration"]
        return figures.reliability_figure(bins=calibration["bins"], ece=calibration["ece"], n=report.n_samples,
                                          title=what, fmt=fmt, style=style)
    rows = [{"precision": c.precision, "recall": c.recall, "f1": c.f1, "support": c.support}
            for c in report_classes(report=report)]
    macro = report_macro(report=report)
    return figures.per_class_figure(
        class_names=report.class_names, rows=rows, fmt=fmt, style=style,
        title=f"{what}\nper class (macro F1 {macro['f1'] * 100:.1f} % over {macro['classes']} classes present, "
              f"n={report.n_samples})" if macro["f1"] is not None else what)


def report_json(*, report: EvaluationReport) -> str:
    return json.dumps(report_figures(report=report), indent=2) + "\n"


def report_csv(*, report: EvaluationReport, table: str) -> str:
    """``per-class``: one row a class (blank scores for a class the set has no images of), then
    the macro means; ``confusion``: the matrix with class names, rows = true class."""
    if table not in REPORT_TABLES:
        raise Http404(f"no table {table!r}; there are: {', '.join(REPORT_TABLES)}")
    if not report.succeeded:
        raise Http404(f"report #{report.pk} is {report.status}: no figures yet")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if table == "per-class":
        writer.writerow(["class", "precision", "recall", "f1", "support"])
        for c in report_classes(report=report):
            writer.writerow([c.name, *("" if v is None else f"{v:.6f}" for v in (c.precision, c.recall, c.f1)),
                             c.support])
        macro = report_macro(report=report)
        writer.writerow([f"macro mean ({macro['classes']} classes present)",
                         *("" if macro[k] is None else f"{macro[k]:.6f}" for k in ("precision", "recall", "f1")),
                         report.n_samples])
    else:
        writer.writerow(["true \\ predicted", *report.class_names])
        for name, row in zip(report.class_names, report.confusion_matrix):
            writer.writerow([name, *row])
    return out.getvalue()
