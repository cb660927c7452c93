"""Every control on the key pages has a name a screen reader can say (a <label>, aria-label,
aria-labelledby, or its own text), and the confusion matrix's text meets WCAG AA contrast."""

from html.parser import HTMLParser

import numpy as np
import pytest
from django.urls import reverse

from classifier.charts import BLUE, GREEN, RED, cell_colours, contrast_ratio
from classifier.models import JobStatus, LabelIssueJob, LabelScore, PredictionJob
from tests.factories import (
    CheckpointFactory,
    EpochLogFactory,
    PhotoFactory,
    PromotionFactory,
    TrainingRunFactory,
    report_from_logits,
)

pytestmark = pytest.mark.django_db

NAMELESS_TYPES = {"hidden"}


class Controls(HTMLParser):
    """The page's controls, each with what could name it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.controls: list[dict] = []
        self.label_for: set[str] = set()
        self.open_labels = 0
        self.open_buttons: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "label":
            self.open_labels += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        elif tag in ("input", "select", "textarea", "button"):
            if tag == "input" and attrs.get("type", "text") in NAMELESS_TYPES:
                return
            control = {"tag": tag, "attrs": attrs, "in_label": self.open_labels > 0, "text": "",
                       "line": self.getpos()[0]}
            self.controls.append(control)
            if tag == "button":
                self.open_buttons.append(control)

    def handle_endtag(self, tag):
        if tag == "label":
            self.open_labels = max(0, self.open_labels - 1)
        elif tag == "button" and self.open_buttons:
            self.open_buttons.pop()

    def handle_data(self, data):
        for button in self.open_buttons:
            button["text"] += data

    def unnamed(self) -> list[str]:
        found = []
        for c in self.controls:
            attrs = c["attrs"]
            named = (c["in_label"] or attrs.get("aria-label", "").strip() or attrs.get("aria-labelledby")
                     or attrs.get("title", "").strip() or (attrs.get("id") and attrs["id"] in self.label_for)
                     or c["text"].strip()
                     or (c["tag"] == "input" and attrs.get("type") in ("submit", "button", "reset")
                         and attrs.get("value", "").strip()))
            if not named:
                found.append(f"line {c['line']}: <{c['tag']} {attrs}>")
        return found


def _unnamed_controls(html: str) -> list[str]:
    parser = Controls()
    parser.feed(html)
    return parser.unnamed()


def test_the_checker_finds_a_control_without_a_name():
    html = ('<label>Search <input name="q"></label><select name="s"></select><button type="submit"> </button>'
            '<label for="x">X</label><input id="x"><input type="hidden" name="h"><button>Go</button>')
    unnamed = _unnamed_controls(html)
    assert len(unnamed) == 2 and "<select" in unnamed[0] and "<button" in unnamed[1]


@pytest.fixture
def site(db, staff_user):
    """One of everything the key pages show: runs (one archived, one a fine-tune), checkpoints,
    a promotion, reports on the test set and on photos, photos (one possibly mislabelled), jobs."""
    run = TrainingRunFactory(status=JobStatus.SUCCEEDED, created_by=staff_user, note="baseline")
    EpochLogFactory(run=run, epoch=1)
    checkpoint = CheckpointFactory(run=run, val_acc=0.91)
    finetune = TrainingRunFactory(status=JobStatus.FAILED, created_by=staff_user, parent_checkpoint=checkpoint)
    PromotionFactory(checkpoint=checkpoint, promoted_by=staff_user)
    labels = np.repeat(np.arange(10), 3)
    logits = np.zeros((30, 10), dtype=np.float32)
    logits[np.arange(30), (labels + (np.arange(30) % 3 == 0)) % 10] = 5.0
    report = report_from_logits(labels, logits, checkpoint=checkpoint)
    photos = [PhotoFactory(predicted_label=i % 10, confidence=0.5, label=(i + 1) % 10) for i in range(30)]
    photo_report = report_from_logits(labels, logits, checkpoint=checkpoint, dataset_name="photos",
                                      sample_keys=[str(p.pk) for p in photos])
    suspect = photos[0]
    job = LabelIssueJob.objects.create(status=JobStatus.SUCCEEDED, started_at=suspect.created_at,
                                       finished_at=suspect.created_at, checkpoint=checkpoint)
    type(suspect).objects.filter(pk=suspect.pk).update(labelled_at=suspect.created_at)
    LabelScore.objects.create(job=job, photo=suspect, label=suspect.label, suspected=3, score=0.8,
                              label_probability=0.1, is_issue=True, scored_by="test")
    prediction = PredictionJob.objects.create(checkpoint=checkpoint, status=JobStatus.SUCCEEDED)
    return {"run": run, "finetune": finetune, "checkpoint": checkpoint, "report": report, "photo_report": photo_report,
            "photo": suspect, "prediction": prediction}


def _key_pages(site) -> list[str]:
    return [
        reverse("run_list"), f"{reverse('run_list')}?q=baseline&archived=all", reverse("run_new"),
        reverse("run_detail", args=[site["run"].pk]), reverse("checkpoint_detail", args=[site["checkpoint"].pk]),
        reverse("checkpoint_finetune", args=[site["checkpoint"].pk]),
        reverse("checkpoint_promote", args=[site["checkpoint"].pk]),
        reverse("report_detail", args=[site["report"].pk]), reverse("report_detail", args=[site["photo_report"].pk]),
        reverse("report_cell", args=[site["report"].pk, 0, 1]), reverse("report_compare"),
        f"{reverse('runs_compare')}?runs={site['run'].pk}&runs={site['finetune'].pk}",
        reverse("model_history"), reverse("photo_gallery"), reverse("photo_upload"),
        reverse("photo_detail", args=[site["photo"].pk]),
        reverse("prediction_job_detail", args=[site["prediction"].pk]), reverse("api_tokens"),
    ]


def test_every_control_on_the_key_pages_has_a_name(staff_client, site):
    problems = {}
    for url in _key_pages(site):
        response = staff_client.get(url)
        assert response.status_code == 200, url
        if unnamed := _unnamed_controls(response.content.decode()):
            problems[url] = unnamed
    assert not problems


def test_the_sign_in_page_labels_its_fields(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200 and not _unnamed_controls(response.content.decode())


@pytest.mark.parametrize("colour", [BLUE, RED, GREEN], ids=["hits", "confusions", "better"])
def test_matrix_cell_text_meets_wcag_aa_contrast_at_every_shade(colour):
    for alpha in np.linspace(0, 1, 201):
        background, text = cell_colours(colour, float(alpha))
        ink = (0, 0, 0) if text == "#000" else (255, 255, 255)
        assert contrast_ratio(background, ink) >= 4.5, (colour, alpha)


def test_an_empty_cell_is_written_at_aa_contrast():
    css = open("classifier/static/classifier/site.css").read()
    assert "table.confusion .zero { color: var(--muted); }" in css and "--muted: #6b7280" in css
    assert contrast_ratio((0x6b, 0x72, 0x80), (255, 255, 255)) >= 4.5
