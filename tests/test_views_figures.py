"""Figures to take away (matplotlib PNG, SVG, PDF; slide or paper) and a report's CSV and JSON."""

import csv
import io
import json

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from classifier import figures
from tests.factories import EpochLogFactory, TrainingRunFactory, report_from_logits


@pytest.fixture
def run(db):
    run = TrainingRunFactory(note="figure run")
    for epoch, (loss, acc) in enumerate([(0.9, 0.70), (0.6, 0.80), (0.5, 0.84)], start=1):
        EpochLogFactory(run=run, epoch=epoch, train_loss=loss, val_loss=loss + 0.05, train_acc=acc, val_acc=acc - 0.02)
    return run


@pytest.fixture
def report(db):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 20)
    logits = rng.normal(size=(200, 10)).astype(np.float32)
    logits[np.arange(200), labels] += 2.0
    return report_from_logits(labels, logits)


def _png(response) -> Image.Image:
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()  # decodes the whole file: a truncated or fake PNG fails here
    return image


def test_run_curves_download_as_real_png_svg_and_pdf(user_client, run):
    png = user_client.get(reverse("run_figure", args=[run.pk, "loss", "png"]))
    assert png.status_code == 200 and f'filename="run{run.pk}-loss-slide.png"' in png["Content-Disposition"]
    slide = _png(png)
    assert slide.size == (1500, 840)  # 10 x 5.6 in at 150 dpi
    svg = user_client.get(reverse("run_figure", args=[run.pk, "accuracy", "svg"]))
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content and b"validation" in svg.content
    pdf = user_client.get(reverse("run_figure", args=[run.pk, "loss", "pdf"]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_paper_style_is_one_column_at_print_resolution(user_client, run):
    paper = _png(user_client.get(reverse("run_figure", args=[run.pk, "loss", "png"]) + "?style=paper"))
    assert paper.size == (1020, 750)  # 3.4 x 2.5 in at 300 dpi


def test_unknown_figures_formats_and_styles_are_404(user_client, run):
    assert user_client.get(reverse("run_figure", args=[run.pk, "nonsense", "png"])).status_code == 404
    assert user_client.get(reverse("run_figure", args=[run.pk, "loss", "gif"])).status_code == 404
    assert user_client.get(reverse("run_figure", args=[run.pk, "loss", "png"]) + "?style=poster").status_code == 404


def test_figures_need_signing_in(client, run):
    response = client.get(reverse("run_figure", args=[run.pk, "loss", "png"]))
    assert response.status_code == 302


def test_the_run_page_links_every_figure_in_every_format(user_client, run):
    page = user_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    for name in ("loss", "accuracy"):
        for fmt in figures.FORMATS:
            for style in figures.STYLES:
                assert f'{reverse("run_figure", args=[run.pk, name, fmt])}?style={style}' in page


def test_report_figures_download(user_client, report):
    for name in ("confusion", "reliability", "per-class"):
        image = _png(user_client.get(reverse("report_figure", args=[report.pk, name, "png"])))
        assert image.width > 500
        page = user_client.get(reverse("report_detail", args=[report.pk])).content.decode()
        assert reverse("report_figure", args=[report.pk, name, "svg"]) in page


def test_compare_figure_overlays_the_runs(user_client, run):
    other = TrainingRunFactory()
    EpochLogFactory(run=other, epoch=1, val_acc=0.5)
    url = reverse("runs_compare_figure", args=["val_acc", "svg"]) + f"?runs={run.pk}&runs={other.pk}"
    svg = user_client.get(url).content.decode()
    assert f"#{run.pk} seed" in svg and f"#{other.pk} seed" in svg
    page = user_client.get(reverse("runs_compare") + f"?runs={run.pk}&runs={other.pk}").content.decode()
    assert reverse("runs_compare_figure", args=["val_acc", "png"]) in page
    assert user_client.get(reverse("runs_compare_figure", args=["val_acc", "png"]) + f"?runs={run.pk}").status_code == 404


def test_compare_svg_lines_differ_in_dash_and_marker_and_legends_show_their_colour(user_client, run):
    other = TrainingRunFactory()
    EpochLogFactory(run=other, epoch=1, val_acc=0.5)
    page = user_client.get(reverse("runs_compare") + f"?runs={run.pk}&runs={other.pk}").content.decode()
    chart = page.split('aria-label="Validation accuracy"')[1].split("</svg>")[0]
    assert 'stroke-dasharray="6 3"' in chart  # the second run is dashed, the first solid
    assert "<rect" in chart and "<circle" in chart  # and their markers differ
    legend = chart.split('class="chart-legend-item"')[1]
    assert 'stroke="#1f77b4"' in legend  # a sample of the line in its colour beside the name


def test_report_data_as_json_and_csv(user_client, report):
    data = json.loads(user_client.get(reverse("report_data", args=[report.pk, "json"])).content)
    assert data["n"] == 200 and data["accuracy"] == report.accuracy and len(data["confusion_matrix"]) == 10
    per_class = list(csv.reader(io.StringIO(
        user_client.get(reverse("report_data", args=[report.pk, "csv"])).content.decode())))
    assert per_class[0] == ["class", "precision", "recall", "f1", "support"] and len(per_class) == 12
    assert per_class[1][0] == "T-shirt/top" and per_class[1][4] == "20"
    assert float(per_class[1][2]) == pytest.approx(report.metrics["per_class"][0]["recall"])
    matrix = list(csv.reader(io.StringIO(user_client.get(
        reverse("report_data", args=[report.pk, "csv"]) + "?table=confusion").content.decode())))
    assert [int(v) for v in matrix[1][1:]] == report.confusion_matrix[0]
    assert user_client.get(reverse("report_data", args=[report.pk, "xml"])).status_code == 404


def test_the_same_data_draws_the_same_svg():
    line = figures.Line("a", [1, 2], [0.5, 0.4])
    draw = lambda: figures.lines_figure(title="t", x_label="epoch", y_label="loss", lines=[line], fmt="svg",  # noqa: E731
                                        style=figures.STYLES["paper"])
    assert draw() == draw()
