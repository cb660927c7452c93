"""Small SVG charts drawn on the server from stored rows: a run's curves, a report's reliability
diagram, and the cell colours of the confusion-matrix heat maps.

SVG rather than matplotlib images: it is text, so the live-updating fragment carries it
with the table, and it stays sharp at any size. No JavaScript charting library needed."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from classifier import formatting

WIDTH, HEIGHT = 420, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 96, 28, 36  # the legend sits in the right margin, outside the plot
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
# Each series also has its own dash and marker, so lines are told apart without colour or hovering.
DASHES = ("", "6 3", "2 2", "8 3 2 3", "4 1", "10 2", "1 3", "6 2 1 2")
MARKERS = ("circle", "square", "triangle", "diamond", "circle", "square", "triangle", "diamond")


def _marker(kind: str, x: float, y: float, color: str, size: float = 2.8) -> str:
    """An SVG shape centred on (x, y), without its closing tag (a <title> may follow)."""
    if kind == "square":
        return f'<rect x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" height="{2 * size:.1f}" fill="{color}">'
    if kind == "triangle":
        return (f'<polygon points="{x:.1f},{y - size * 1.2:.1f} {x - size * 1.1:.1f},{y + size * .9:.1f} '
                f'{x + size * 1.1:.1f},{y + size * .9:.1f}" fill="{color}">')
    if kind == "diamond":
        return (f'<polygon points="{x:.1f},{y - size * 1.3:.1f} {x + size * 1.1:.1f},{y:.1f} {x:.1f},{y + size * 1.3:.1f} '
                f'{x - size * 1.1:.1f},{y:.1f}" fill="{color}">')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" fill="{color}">'


def _marker_end(kind: str) -> str:
    return {"square": "</rect>", "triangle": "</polygon>", "diamond": "</polygon>"}.get(kind, "</circle>")


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[float, float]]  # (x, y)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high == low:
        return [low]
    step = (high - low) / (count - 1)
    return [low + i * step for i in range(count)]


def line_chart(*, title: str, x_label: str, y_label: str, series: list[Series],
               y_format: str = "{:.3f}") -> SafeString:
    points = [p for s in series for p in s.points]
    if not points:
        return mark_safe(
            f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="chart-empty">'
            f"{escape(title)}: no epochs yet</text></svg>"
        )
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_min, x_max = min(xs), max(max(xs), min(xs) + 1)
    y_min, y_max = min(ys), max(ys)
    pad = (y_max - y_min) * 0.08 or 0.05
    y_min, y_max = y_min - pad, y_max + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x_min) / (x_max - x_min) * plot_w

    def sy(y: float) -> float:
        return TOP + (1 - (y - y_min) / (y_max - y_min)) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" class="chart-title">{escape(title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="chart-frame"/>',
    ]
    for y in _ticks(y_min, y_max):
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" class="chart-grid"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{sy(y) + 4:.1f}" text-anchor="end" class="chart-tick">'
                     f"{escape(y_format.format(y))}</text>")
    x_ticks = sorted({round(x) for x in _ticks(x_min, x_max, min(6, int(x_max - x_min) + 1))})
    for x in x_ticks:
        parts.append(f'<text x="{sx(x):.1f}" y="{TOP + plot_h + 14}" text-anchor="middle" class="chart-tick">{x}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 4}" text-anchor="middle" class="chart-label">'
                 f"{escape(x_label)}</text>")
    parts.append(f'<text x="12" y="{TOP + plot_h / 2}" text-anchor="middle" class="chart-label" '
                 f'transform="rotate(-90 12 {TOP + plot_h / 2})">{escape(y_label)}</text>')
    for i, s in enumerate(series):
        color, dash, marker = COLORS[i % len(COLORS)], DASHES[i % len(DASHES)], MARKERS[i % len(MARKERS)]
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s.points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dashing}/>')
        for x, y in s.points:
            parts.append(_marker(marker, sx(x), sy(y), color)
                         + f"<title>{escape(s.name)} epoch {x:g}: {escape(y_format.format(y))}</title>{_marker_end(marker)}")
        # The legend, outside the plot on the right: a sample of the line (its colour, dash and
        # marker) before each name.
        key_x, key_y = LEFT + plot_w + 10, TOP + 8 + i * 16
        parts.append(f'<g class="chart-legend-item"><line x1="{key_x}" x2="{key_x + 22}" y1="{key_y}" y2="{key_y}" '
                     f'stroke="{color}" stroke-width="2"{dashing}/>{_marker(marker, key_x + 11, key_y, color)}'
                     f'{_marker_end(marker)}<text x="{key_x + 27}" y="{key_y + 4}" class="chart-legend">'
                     f"{escape(s.name)}</text></g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))


def run_curves(epochs: list) -> dict[str, SafeString]:
    """The notebook's two plots: loss vs epoch and accuracy vs epoch, train and validation."""
    return {
        "loss": line_chart(
            title="Loss", x_label="epoch", y_label="loss",
            series=[Series("train", [(e.epoch, e.train_loss) for e in epochs]),
                    Series("validation", [(e.epoch, e.val_loss) for e in epochs])],
        ),
        "accuracy": line_chart(
            title="Accuracy", x_label="epoch", y_label="accuracy", y_format="{:.1%}",
            series=[Series("train", [(e.epoch, e.train_acc) for e in epochs]),
                    Series("validation", [(e.epoch, e.val_acc) for e in epochs])],
        ),
    }


def reliability_diagram(*, bins: list[dict], ece: float) -> SafeString:
    """Accuracy against confidence per bin, with the diagonal a calibrated model would follow.

    Bars show each bin's accuracy; the hatched part up to the bin's mean confidence is the gap
    ECE averages (weighted by the bin's share of samples)."""
    size, left, bottom, top, right = 300, 44, 36, 28, 12
    plot = size - left - right
    height = top + plot + bottom

    def sx(x: float) -> float:
        return left + x * plot

    def sy(y: float) -> float:
        return top + (1 - y) * plot

    title = f"Reliability · ECE {formatting.decimal(ece)}"
    parts = [
        f'<svg class="chart reliability" viewBox="0 0 {size} {height}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{size / 2}" y="16" text-anchor="middle" class="chart-title">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot}" height="{plot}" class="chart-frame"/>',
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line x1="{left}" x2="{left + plot}" y1="{sy(tick):.1f}" y2="{sy(tick):.1f}" class="chart-grid"/>')
        parts.append(f'<text x="{left - 4}" y="{sy(tick) + 4:.1f}" text-anchor="end" class="chart-tick">{tick:g}</text>')
        parts.append(f'<text x="{sx(tick):.1f}" y="{top + plot + 14}" text-anchor="middle" class="chart-tick">{tick:g}</text>')
    for b in bins:
        if not b["count"]:
            continue
        x, w = sx(b["lower"]) + 1, (b["upper"] - b["lower"]) * plot - 2
        acc, conf = b["accuracy"], b["confidence"]
        tip = (f"confidence {b['lower']:.2f}–{b['upper']:.2f}: {b['count']} samples, "
               f"accuracy {formatting.percent(acc)}, mean confidence {formatting.percent(conf)}")
        parts.append(f'<rect x="{x:.1f}" y="{sy(acc):.1f}" width="{w:.1f}" height="{sy(0) - sy(acc):.1f}" '
                     f'class="reliability-bar"><title>{escape(tip)}</title></rect>')
        low, high = sorted((acc, conf))
        parts.append(f'<rect x="{x:.1f}" y="{sy(high):.1f}" width="{w:.1f}" height="{sy(low) - sy(high):.1f}" '
                     f'class="reliability-gap"><title>{escape(tip)}</title></rect>')
    parts.append(f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(1)}" y2="{sy(1)}" class="reliability-diagonal"/>')
    parts.append(f'<text x="{left + plot / 2}" y="{height - 4}" text-anchor="middle" class="chart-label">confidence</text>')
    parts.append(f'<text x="12" y="{top + plot / 2}" text-anchor="middle" class="chart-label" '
                 f'transform="rotate(-90 12 {top + plot / 2})">accuracy</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


BLUE, RED, GREEN = (37, 99, 235), (220, 38, 38), (21, 128, 61)


def relative_luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2's relative luminance of an sRGB colour (0-255 channels)."""
    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    light, dark = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def cell_colours(rgb: tuple[int, int, int], alpha: float) -> tuple[tuple[float, float, float], str]:
    """A cell's background (the colour at `alpha` over white) and the text colour that reads best
    on it: black or white, whichever contrasts more. One of the two always reaches 4.58:1, above
    WCAG AA's 4.5:1 for text (the text colour of the page would fall to 3.9:1 on mid-tones)."""
    background = tuple(255 - alpha * (255 - c) for c in rgb)
    text = "#000" if contrast_ratio(background, (0, 0, 0)) >= contrast_ratio(background, (255, 255, 255)) else "#fff"
    return background, text


def _cell_style(rgb: tuple[int, int, int], alpha: float) -> str:
    alpha = max(0.0, min(1.0, alpha))
    _, text = cell_colours(rgb, alpha)
    return f"color: {text}; background: rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha:.3f})"


def heat_style(share: float, *, diagonal: bool) -> str:
    """A confusion-matrix cell shaded by its share of the true class's row: blue for hits, red
    for confusions, on a square-root scale so that a 1 % confusion still shows."""
    return _cell_style(BLUE, share) if diagonal else _cell_style(RED, share ** 0.5)


def diff_style(diff: int, *, largest: int, diagonal: bool) -> str:
    """A change of count, green where it got better (more hits, fewer confusions), red where worse."""
    if not diff or not largest:
        return ""
    better = diff > 0 if diagonal else diff < 0
    return _cell_style(GREEN if better else RED, 0.15 + 0.65 * abs(diff) / largest)
