"""Figures to take away: the pages' charts drawn with matplotlib as PNG, SVG or PDF, styled for a
slide or a paper. Plain functions of plain data (lists of numbers and names), no Django, so a
view only picks the data and the format.

Matplotlib's object API (Figure + its Agg canvas) rather than pyplot: no global state, so
concurrent requests in one web process never draw on each other's figure.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display on a server; set before anything draws
# Fixed ids inside SVGs, so the same data draws the same file (diffable, cacheable).
matplotlib.rcParams["svg.hashsalt"] = "fmnist"

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

FORMATS = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


@dataclass(frozen=True)
class Style:
    """How big and how dense a figure is drawn."""

    width_in: float
    height_in: float
    font_pt: float
    line_w: float
    dpi: int  # PNG only; SVG and PDF are vector


STYLES = {
    # A 16:9 slide: large type that reads from the back of a room.
    "slide": Style(width_in=10, height_in=5.6, font_pt=16, line_w=2.6, dpi=150),
    # One column of a two-column paper (3.4 in), at print resolution.
    "paper": Style(width_in=3.4, height_in=2.5, font_pt=7.5, line_w=1.1, dpi=300),
}
DEFAULT_STYLE = "slide"
# Told apart without colour too: each series has its own dash and marker (prints in grey, and
# works for readers who do not see the colours).
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
DASHES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1)), (0, (1, 1)), (0, (8, 2)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


class FigureError(ValueError):
    """An unknown figure, format or style; the message says which are known."""


@dataclass(frozen=True)
class Line:
    name: str
    xs: list[float]
    ys: list[float]


def _figure(style: Style, *, square: bool = False) -> tuple[Figure, object]:
    height = style.width_in * 0.8 if square else style.height_in
    figure = Figure(figsize=(style.width_in if not square else height * 1.1, height), dpi=style.dpi,
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    return figure, axes


def _style_axes(axes, style: Style, *, title: str, x_label: str, y_label: str) -> None:
    axes.set_title(title, fontsize=style.font_pt * 1.1, fontweight="bold")
    axes.set_xlabel(x_label, fontsize=style.font_pt)
    axes.set_ylabel(y_label, fontsize=style.font_pt)
    axes.tick_params(labelsize=style.font_pt * 0.85)
    axes.grid(True, color="#e5e7eb", linewidth=style.line_w * 0.4)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _save(figure: Figure, fmt: str, style: Style) -> bytes:
    if fmt not in FORMATS:
        raise FigureError(f"unknown format {fmt!r}: {', '.join(FORMATS)}")
    buffer = io.BytesIO()
    # metadata: no creation date in SVG/PDF, so the same data gives the same bytes.
    metadata = {"Date": None} if fmt in ("svg", "pdf") else {}
    figure.savefig(buffer, format=fmt, dpi=style.dpi, metadata=metadata or None)
    return buffer.getvalue()


def style_get(name: str | None) -> Style:
    name = name or DEFAULT_STYLE
    if name not in STYLES:
        raise FigureError(f"unknown style {name!r}: {', '.join(STYLES)}")
    return STYLES[name]


def lines_figure(*, title: str, x_label: str, y_label: str, lines: list[Line], fmt: str, style: Style,
                 percent: bool = False) -> bytes:
    """Curves against epochs (one run's train and validation, or several runs overlaid): each line
    its own colour, dash and marker, the legend outside the plot on the right."""
    figure, axes = _figure(style)
    for i, line in enumerate(lines):
        ys = [y * 100 for y in line.ys] if percent else line.ys
        axes.plot(line.xs, ys, label=line.name, color=COLORS[i % len(COLORS)], linestyle=DASHES[i % len(DASHES)],
                  marker=MARKERS[i % len(MARKERS)], linewidth=style.line_w, markersize=style.line_w * 2.4)
    _style_axes(axes, style, title=title, x_label=x_label, y_label=f"{y_label} (%)" if percent else y_label)
    if any(line.xs for line in lines):
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, frameon=False,
                    fontsize=style.font_pt * 0.9)
    else:
        axes.text(0.5, 0.5, "no epochs yet", ha="center", va="center", transform=axes.transAxes,
                  fontsize=style.font_pt)
    return _save(figure, fmt, style)


def confusion_figure(*, matrix: list[list[int]], class_names: list[str], title: str, fmt: str, style: Style) -> bytes:
    """Counts, shaded by the share of each true class's row (rows with no images stay blank)."""
    figure, axes = _figure(style, square=True)
    shares = [[count / sum(row) if sum(row) else 0.0 for count in row] for row in matrix]
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    size = len(class_names)
    small = style.font_pt * (0.6 if size > 6 else 0.8)
    for t in range(size):
        for p in range(size):
            if matrix[t][p]:
                axes.text(p, t, str(matrix[t][p]), ha="center", va="center", fontsize=small,
                          color="white" if shares[t][p] > 0.55 else "#111827")
    axes.set_xticks(range(size), class_names, rotation=45, ha="right", fontsize=small)
    axes.set_yticks(range(size), [f"{name} (n={sum(matrix[i])})" for i, name in enumerate(class_names)],
                    fontsize=small)
    axes.set_xlabel("predicted", fontsize=style.font_pt)
    axes.set_ylabel("true class", fontsize=style.font_pt)
    axes.set_title(title, fontsize=style.font_pt * 1.1, fontweight="bold")
    bar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    bar.set_label("share of the true class", fontsize=small)
    bar.ax.tick_params(labelsize=small)
    return _save(figure, fmt, style)


def reliability_figure(*, bins: list[dict], ece: float, n: int, title: str, fmt: str, style: Style) -> bytes:
    """Accuracy against confidence per bin, the gap to the diagonal shaded, the count above each bar."""
    figure, axes = _figure(style, square=True)
    used = [b for b in bins if b["count"]]
    lefts = [b["lower"] for b in used]
    widths = [b["upper"] - b["lower"] for b in used]
    axes.bar(lefts, [b["accuracy"] for b in used], width=widths, align="edge", color="#93c5fd",
             edgecolor="#2563eb", linewidth=style.line_w * 0.3, label="accuracy in the bin")
    axes.bar(lefts, [b["confidence"] - b["accuracy"] for b in used], bottom=[b["accuracy"] for b in used],
             width=widths, align="edge", color="#dc2626", alpha=0.3, label="gap to mean confidence")
    axes.plot([0, 1], [0, 1], linestyle="--", color="#6b7280", linewidth=style.line_w * 0.6,
              label="perfectly calibrated")
    for b in used:
        axes.text(b["lower"] + (b["upper"] - b["lower"]) / 2, min(1.0, max(b["accuracy"], b["confidence"])) + 0.01,
                  str(b["count"]), ha="center", va="bottom", fontsize=style.font_pt * 0.5, rotation=90)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.12)
    _style_axes(axes, style, title=f"{title}\nECE {ece:.4f}, n={n}", x_label="confidence", y_label="accuracy")
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, frameon=False,
                fontsize=style.font_pt * 0.8)
    return _save(figure, fmt, style)


def per_class_figure(*, class_names: list[str], rows: list[dict], title: str, fmt: str, style: Style) -> bytes:
    """Precision, recall and F1 per class as grouped bars, with each class's n; a class the set
    has no images of gets no bars (and says so), rather than zeros."""
    figure, axes = _figure(style)
    metrics = (("precision", "#1f77b4", "//"), ("recall", "#ff7f0e", ""), ("f1", "#2ca02c", ".."))
    width = 0.27
    for k, (name, color, hatch) in enumerate(metrics):
        xs = [i + (k - 1) * width for i, row in enumerate(rows) if row.get(name) is not None]
        ys = [row[name] * 100 for row in rows if row.get(name) is not None]
        axes.bar(xs, ys, width=width, color=color, hatch=hatch, edgecolor="white", label=name)
    for i, row in enumerate(rows):
        if not row.get("support"):
            axes.text(i, 2, "no images", ha="center", va="bottom", rotation=90, fontsize=style.font_pt * 0.6,
                      color="#6b7280")
    labels = [f"{name} (n={row.get('support') or 0})" for name, row in zip(class_names, rows)]
    axes.set_xticks(range(len(class_names)), labels, rotation=45, ha="right", fontsize=style.font_pt * 0.7)
    axes.set_ylim(0, 105)
    _style_axes(axes, style, title=title, x_label="", y_label="%")
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, frameon=False,
                fontsize=style.font_pt * 0.9)
    return _save(figure, fmt, style)
