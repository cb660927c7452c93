"""Photos people upload, the labels they give them, and the jobs that predict them."""

from __future__ import annotations

import io

import numpy as np
from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from classifier.models.jobs import Job
from classifier.models.runs import Checkpoint
from classifier.models.tags import Tag
from dataset.classes import CLASS_NAMES

CLASS_CHOICES = list(enumerate(CLASS_NAMES))
NO_SOURCE = "(source not given)"


def model_input_array(data: bytes | memoryview) -> np.ndarray:
    """A stored 28x28 model input (784 bytes, row by row) as a uint8 array."""
    return np.frombuffer(bytes(data), dtype=np.uint8).reshape(28, 28)


class PhotoBatchKind(models.TextChoices):
    UPLOAD = "upload", "upload"
    IMPORT = "import", "import"


class PhotoBatch(models.Model):
    """Photos that came in together: one visit to the upload page, or one `import_photos` run
    (its manifest or folder in ``name``)."""

    kind = models.CharField(max_length=16, choices=PhotoBatchKind.choices)
    name = models.CharField(max_length=255, blank=True, help_text="the manifest or folder imported")
    key = models.CharField(max_length=64, unique=True, help_text="the upload page's own key, so its photos join one batch")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="photo_batches")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        who = f" by {self.created_by}" if self.created_by else ""
        what = f" of {self.name}" if self.name else ""
        return f"{self.get_kind_display()}{what}{who}, {self.created_at:%Y-%m-%d %H:%M}"


class PhotoState(models.TextChoices):
    # An upload is stored at once (checked, decoded, re-encoded, with its thumbnail); making what
    # the model sees (GrabCut) and finding its near-duplicates is a preparation job's, on a worker.
    PREPARING = "preparing", "preparing"
    READY = "ready", "ready"
    FAILED = "failed", "could not be prepared"


class Photo(models.Model):
    """One uploaded photo. Its files have server-chosen random names and are served only to
    signed-in users; ``original_name`` is what the uploader called it, for display only.

    Until its state is READY a photo has no model input (empty bytes): it is shown in the gallery
    as preparing (or with the reason it failed), and never predicted, labelled or trained on."""

    state = models.CharField(max_length=16, choices=PhotoState.choices, default=PhotoState.READY, db_index=True)
    preparation_error = models.TextField(blank=True, help_text="why the photo could not be prepared")
    # The bytes as uploaded, kept only until the photo is prepared (from them, exactly as before
    # uploads were prepared on a worker); they may carry EXIF, so they are never served.
    upload = models.FileField(max_length=200, blank=True)

    original = models.FileField(max_length=200, help_text="the upload, upright and re-encoded, metadata stripped")
    thumbnail = models.FileField(max_length=200)
    # The 28x28 image the model sees, row by row (784 bytes): small enough for the row itself,
    # so a prediction job or an evaluation reads no files.
    model_input = models.BinaryField()
    # Where the 28x28 frame lies on the photo, (left, top, right, bottom) as fractions of its width
    # and height (dataset.photos.frame_box): to draw a map over the photo where the model looked.
    model_input_box = models.JSONField(null=True, blank=True)
    preprocess_version = models.PositiveSmallIntegerField(
        help_text="dataset.photos.PREPROCESS_VERSION that made model_input")
    original_name = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, unique=True, help_text="of the bytes uploaded")
    stored_sha256 = models.CharField(max_length=64, db_index=True, help_text="of the stored original")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="photos")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Where it came from: the batch it arrived in, and the shop, home or site it shows (an import
    # manifest's source column, or what the uploader typed). Scorecards count per source, and a
    # fine-tune spreads its draws over sources, so that the kind labelled most can't crowd out the rest.
    batch = models.ForeignKey(PhotoBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="photos")
    source = models.CharField(max_length=200, blank=True, db_index=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="photos")

    # The latest prediction (a prediction job writes all five together).
    predicted_label = models.PositiveSmallIntegerField(null=True, blank=True, choices=CLASS_CHOICES)
    confidence = models.FloatField(null=True, blank=True, db_index=True)
    probabilities = models.JSONField(null=True, blank=True, help_text="ten floats, in class order")
    predicted_by = models.ForeignKey(Checkpoint, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="photo_predictions")
    predicted_at = models.DateTimeField(null=True, blank=True)
    # Where that model looked (engine.occlusion): a float16 (k, 28, 28) map for each class of
    # occlusion_classes, the predicted class first, then the label when it differs.
    occlusion = models.BinaryField(null=True, blank=True, editable=False)
    occlusion_classes = models.JSONField(null=True, blank=True)

    # What the newest checkpoint says, when it is not the active model: where the two disagree is
    # where a label teaches most ("most useful to label next").
    candidate_label = models.PositiveSmallIntegerField(null=True, blank=True, choices=CLASS_CHOICES)
    candidate_confidence = models.FloatField(null=True, blank=True)
    candidate_by = models.ForeignKey(Checkpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    # Decided when the photo is stored, never changed by an upload: by dataset.photo_split from
    # sha256, or, for a near-duplicate of a photo already here, its group's side, so that the same
    # item can't sit in both parts. Held-out photos are never trained on, and reports on the
    # "photos" dataset score only them.
    held_out = models.BooleanField(default=False, db_index=True)
    # dataset.near_duplicates: the photo's look, and the group of photos that look the same (the
    # id of the group's first photo; None while it has no near-duplicate).
    signature = models.BinaryField(null=True, blank=True, editable=False)
    duplicate_group = models.PositiveIntegerField(null=True, blank=True, db_index=True,
                                                  help_text="id of the first photo of its near-duplicate group")

    # The current human label: always the result of the photo's latest correction.
    label = models.PositiveSmallIntegerField(null=True, blank=True, choices=CLASS_CHOICES, db_index=True)
    labelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    labelled_at = models.DateTimeField(null=True, blank=True)
    # When anything its gallery card shows last changed (a label, a prediction, its preparation):
    # the open gallery pages fetch only the cards changed since they last asked.
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Photo #{self.pk} ({self.original_name or 'unnamed'})"

    @property
    def is_ready(self) -> bool:
        return self.state == PhotoState.READY

    @property
    def is_preparing(self) -> bool:
        return self.state == PhotoState.PREPARING

    @property
    def source_display(self) -> str:
        return self.source or NO_SOURCE

    @property
    def split_name(self) -> str:
        return "held out" if self.held_out else "train"

    @property
    def is_predicted(self) -> bool:
        return self.predicted_label is not None

    @property
    def is_wrong(self) -> bool:
        """Labelled, predicted, and the two disagree."""
        return self.label is not None and self.predicted_label is not None and self.label != self.predicted_label

    def model_input_array(self) -> np.ndarray:
        return model_input_array(self.model_input)

    def model_input_png(self) -> bytes:
        out = io.BytesIO()
        Image.fromarray(self.model_input_array(), "L").save(out, "PNG")
        return out.getvalue()

    def occlusion_map(self, class_index: int) -> np.ndarray | None:
        """The (28, 28) occlusion map for this class, if the latest prediction made one."""
        if not self.occlusion or class_index not in (self.occlusion_classes or []):
            return None
        maps = np.frombuffer(bytes(self.occlusion), dtype=np.float16).reshape(-1, 28, 28)
        return maps[self.occlusion_classes.index(class_index)].astype(np.float32)

    def ranked_probabilities(self) -> list[tuple[int, str, float]]:
        """(class index, class name, probability), most likely first."""
        if not self.probabilities:
            return []
        ranked = sorted(enumerate(self.probabilities), key=lambda item: -item[1])
        return [(index, CLASS_NAMES[index], p) for index, p in ranked]


class LabelCorrection(models.Model):
    """One change of a photo's label: who, when, from what to what. Never edited or deleted;
    undoing one adds another that ``reverts`` it, so the history is complete."""

    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="corrections")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="label_corrections")
    created_at = models.DateTimeField(default=timezone.now)
    from_label = models.PositiveSmallIntegerField(null=True, blank=True, choices=CLASS_CHOICES)
    to_label = models.PositiveSmallIntegerField(null=True, blank=True, choices=CLASS_CHOICES)
    reverts = models.OneToOneField("self", null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="reverted_by")
    source = models.CharField(max_length=100, blank=True, help_text="gallery, keyboard, photo page, import ...")

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Photo #{self.photo_id}: {self.from_label_display} -> {self.to_label_display}"

    @property
    def from_label_display(self) -> str:
        return CLASS_NAMES[self.from_label] if self.from_label is not None else "no label"

    @property
    def to_label_display(self) -> str:
        return CLASS_NAMES[self.to_label] if self.to_label is not None else "no label"


class PredictionScope(models.TextChoices):
    UNPREDICTED = "unpredicted", "photos without a prediction"
    ALL = "all", "all photos"


class PredictionTarget(models.TextChoices):
    ACTIVE = "active", "the photos' predictions (by the active model)"
    CANDIDATE = "candidate", "the newest checkpoint's second opinion"


class PredictionJob(Job):
    """Predict a batch of photos with one checkpoint, on a worker. Which photos is decided
    when the worker starts: every photo without a prediction then, or every photo."""

    task_name = "worker.tasks.predict_photos"
    kind = "prediction"
    noun = "Prediction job"
    resumable = True  # predicting again from the start writes the same predictions

    scope = models.CharField(max_length=16, choices=PredictionScope.choices, default=PredictionScope.UNPREDICTED)
    target = models.CharField(max_length=16, choices=PredictionTarget.choices, default=PredictionTarget.ACTIVE)
    checkpoint = models.ForeignKey(Checkpoint, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="prediction_jobs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="prediction_jobs")
    total = models.PositiveIntegerField(default=0, help_text="photos to predict")
    done = models.PositiveIntegerField(default=0, help_text="photos predicted so far")

    class Meta:
        ordering = ["-created_at", "-pk"]

    def get_absolute_url(self) -> str:
        return reverse("prediction_job_detail", args=[self.pk])


class PreparationJob(Job):
    """Prepare uploaded photos on a worker: what the model sees (dataset.photos.preprocess, with
    GrabCut), their near-duplicate group and side of the split. Which photos is decided when the
    worker starts: every photo still preparing then. Its prediction job is queued when it is done."""

    task_name = "worker.tasks.prepare_photos"
    kind = "preparation"
    noun = "Preparation job"
    resumable = True  # preparing a photo again writes the same result

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="preparation_jobs")
    total = models.PositiveIntegerField(default=0, help_text="photos to prepare")
    done = models.PositiveIntegerField(default=0, help_text="photos prepared so far")

    class Meta:
        ordering = ["-created_at", "-pk"]

    def get_absolute_url(self) -> str:
        return reverse("photo_gallery")
