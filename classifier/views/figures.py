"""Figures and data to take away: every chart of the run, compare and report pages as PNG,
SVG or PDF (`?style=slide|paper`), and a report's figures as CSV and JSON."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse

from classifier import figures
from classifier.selectors import figures as figure_selectors
from classifier.selectors import reports as report_selectors
from classifier.selectors import runs as run_selectors


def _download(data: bytes | str, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _format_and_style(request, fmt: str) -> tuple[str, figures.Style, str]:
    if fmt not in figures.FORMATS:
        raise Http404(f"no format {fmt!r}; there are: {', '.join(figures.FORMATS)}")
    name = request.GET.get("style") or figures.DEFAULT_STYLE
    try:
        return fmt, figures.style_get(name), name
    except figures.FigureError as exc:
        raise Http404(str(exc)) from None


@login_required
def run_figure(request, run_id: int, name: str, fmt: str):
    fmt, style, style_name = _format_and_style(request, fmt)
    run = run_selectors.run_get(run_id=run_id)
    data = figure_selectors.run_figure(run=run, name=name, fmt=fmt, style=style)
    return _download(data, content_type=figures.FORMATS[fmt], filename=f"run{run.pk}-{name}-{style_name}.{fmt}")


@login_required
def runs_compare_figure(request, name: str, fmt: str):
    fmt, style, style_name = _format_and_style(request, fmt)
    run_ids = [int(v) for v in request.GET.getlist("runs") if v.isdigit()]
    data = figure_selectors.runs_compare_figure(run_ids=run_ids, name=name, fmt=fmt, style=style)
    runs = "-".join(str(i) for i in dict.fromkeys(run_ids))
    return _download(data, content_type=figures.FORMATS[fmt], filename=f"runs{runs}-{name}-{style_name}.{fmt}")


@login_required
def report_figure(request, report_id: int, name: str, fmt: str):
    fmt, style, style_name = _format_and_style(request, fmt)
    report = report_selectors.report_get(report_id=report_id)
    data = figure_selectors.report_figure(report=report, name=name, fmt=fmt, style=style)
    return _download(data, content_type=figures.FORMATS[fmt],
                     filename=f"report{report.pk}-{name}-{style_name}.{fmt}")


@login_required
def report_data(request, report_id: int, fmt: str):
    """``json``: every stored figure (what `manage.py evaluate --json` writes); ``csv``: the
    per-class table, or with ?table=confusion the confusion matrix."""
    report = report_selectors.report_get(report_id=report_id)
    if fmt == "json":
        return _download(figure_selectors.report_json(report=report), content_type="application/json",
                         filename=f"report{report.pk}.json")
    if fmt == "csv":
        table = request.GET.get("table", "per-class")
        return _download(figure_selectors.report_csv(report=report, table=table),
                         content_type="text/csv; charset=utf-8", filename=f"report{report.pk}-{table}.csv")
    raise Http404(f"no format {fmt!r}; there are: json, csv")
