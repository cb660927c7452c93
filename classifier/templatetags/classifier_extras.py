import base64
from datetime import timedelta
from functools import cache

from django import template
from django.urls import get_script_prefix, reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from classifier import formatting
from dataset.classes import CLASS_NAMES

register = template.Library()


@register.filter
def duration(value: timedelta | float | None) -> str:
    """'1 h 04 min', '3 min 20 s', '12.3 s' from a timedelta or seconds; '' for None."""
    if value is None:
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def pct(value: float | None, digits: int = 2) -> str:
    return formatting.percent(value, digits)


@register.filter
def pp(value: float | None, digits: int = 2) -> str:
    return formatting.points(value, digits)


@register.filter
def dec(value: float | None, digits: int = 4) -> str:
    return formatting.decimal(value, digits)


@register.filter
def signed(value: int) -> str:
    return formatting.signed(value)


@register.filter
def filesize(num_bytes: int | None) -> str:
    if num_bytes is None:
        return ""
    size = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@register.filter
def class_name(index: int | None, names: list[str] | None = None) -> str:
    """{{ photo.label|class_name }}, or with a report's own class list: {{ cell.predicted_class|class_name:names }}."""
    if index is None:
        return ""
    try:
        return (names or CLASS_NAMES)[int(index)]
    except (IndexError, TypeError, ValueError):
        return str(index)


@register.filter
def domain(scorecard, dataset_name: str):
    """{{ scorecard|domain:"photos" }}: one domain of a two-domain scorecard."""
    return scorecard.domain(dataset_name)


@register.filter
def model_input_src(photo) -> str:
    """What the model sees, inline as a data URI: a gallery page needs no request per photo."""
    return "data:image/png;base64," + base64.b64encode(photo.model_input_png()).decode("ascii")


@register.filter
def query_part(url: str | None) -> str:
    """"/photos/?show=wrong&page=2" -> "show=wrong&page=2": the gallery's view, for a card's link
    to the photo's page to carry (its previous/next follow that view)."""
    return (url or "").partition("?")[2]


@register.filter
def can_cancel(job, user) -> bool:
    """{% if job|can_cancel:user %}: whether to offer this user the job's Cancel button."""
    from classifier.services.jobs import job_can_cancel

    return job_can_cancel(job=job, user=user)


@register.filter
def milliseconds(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.0f} ms"


@register.filter
def can_edit(run, user) -> bool:
    """{% if run|can_edit:user %}: whether to offer this user the run's note, tags and archiving."""
    from classifier.services.training import training_run_can_edit

    return training_run_can_edit(run=run, user=user)


@register.filter
def intcomma_plain(value: int | None) -> str:
    """55000 -> '55,000' (without django.contrib.humanize's locale rules)."""
    return "" if value is None else f"{int(value):,}"


@register.inclusion_tag("classifier/_figure_downloads.html")
def figure_downloads(url_name: str, *args, query: str = "", label: str = ""):
    """Links to download one figure as PNG, SVG and PDF, for a slide and for a paper:
    {% figure_downloads "report_figure" report.pk "confusion" label="confusion matrix" %}."""
    from django.urls import reverse

    from classifier.figures import FORMATS, STYLES

    extra = f"&{query}" if query else ""
    return {"label": label, "styles": [
        {"name": style, "links": [{"fmt": fmt.upper(), "url": f"{reverse(url_name, args=[*args, fmt])}?style={style}{extra}"}
                                  for fmt in FORMATS]}
        for style in STYLES]}


@register.filter
def interval(share: float | None, n: int | None) -> str:
    """{{ report.accuracy|interval:report.n_samples }}: '89.1–91.2 %', the 95 % Wilson interval of
    a share measured on n samples ('' when there is none)."""
    from engine.metrics import wilson_interval

    if share is None or not n:
        return ""
    low, high = wilson_interval(round(share * n), int(n))
    return f"{low * 100:.1f}–{high * 100:.1f} %"


@cache
def _label_options(selected: int | None) -> SafeString:
    options = ['<option value="">—</option>'] + [
        f'<option value="{index}"{" selected" if index == selected else ""}>{index} · {escape(name)}</option>'
        for index, name in enumerate(CLASS_NAMES)]
    return mark_safe("".join(options))


@register.simple_tag
def label_options(selected: int | None) -> SafeString:
    """A label <select>'s options with this class selected: made once per class, not per card
    (a gallery page has dozens of cards, each with the ten classes)."""
    return _label_options(selected)


_PK = 987654321  # stands for the photo's id in a URL reversed once


@cache
def _photo_url_pattern(name: str, prefix: str) -> tuple[str, str]:
    head, _, tail = reverse(name, args=[_PK]).partition(str(_PK))
    return head, tail


@register.simple_tag
def photo_url(name: str, pk: int) -> str:
    """{% photo_url "photo_thumbnail" photo.pk %}: the same as {% url %}, for a URL whose one
    argument is a photo's id, reversed once per name rather than four times per gallery card."""
    head, tail = _photo_url_pattern(name, get_script_prefix())
    return f"{head}{int(pk)}{tail}"
