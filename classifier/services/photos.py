"""Everything that changes a photo, its label or a prediction job, whoever asks: the upload
page, the gallery's keyboard, the admin, `manage.py import_photos`, a worker.

Uploads are decoded here with Pillow (never torch): the web process makes the 28x28 image the
model will see, and a worker later only runs the model on it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from PIL import Image

from classifier.models import (
    Checkpoint,
    JobStatus,
    LabelCorrection,
    Photo,
    PhotoBatch,
    PhotoBatchKind,
    PhotoState,
    PredictionJob,
    PredictionScope,
    PredictionTarget,
    PreparationJob,
    Tag,
)
from classifier.selectors.photos import checkpoint_for_prediction
from classifier.services.jobs import job_alive, job_enqueue, job_heartbeat
from dataset import near_duplicates
from dataset.classes import CLASS_NAMES, NUM_CLASSES
from dataset.photo_split import is_held_out
from dataset.photos import (
    PREPROCESS_VERSION,
    PhotoUnreadable,
    flatten_alpha,
    open_photo,
    orient,
    preprocess,
    preprocess_with_box,
    working_copy,
)

logger = logging.getLogger(__name__)

THUMBNAIL_SIDE = 256
JPEG_QUALITY = 90


# --- upload -------------------------------------------------------------------------------


class PhotoRejected(Exception):
    """A file that is not taken; the message completes "<file name> ..." for the user."""

    def __init__(self, message: str, *, existing: Photo | None = None) -> None:
        super().__init__(message)
        self.existing = existing


def display_name(name: str | None) -> str:
    """The uploader's file name, for display only: no folders, no control characters."""
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    return re.sub(r"\s+", " ", name).strip()[:200]


def _read_capped(file: File, limit: int) -> bytes:
    """The file's bytes, refusing more than ``limit`` even when its stated size lies."""
    if file.size is not None and file.size > limit:
        raise PhotoRejected(_too_large(file.size, limit))
    file.seek(0)
    data = file.read(limit + 1)
    if len(data) > limit:
        raise PhotoRejected(_too_large(len(data), limit))
    return data


def _too_large(size: int, limit: int) -> str:
    return f"is too large: {size / 2**20:.1f} MB, the limit is {limit / 2**20:.0f} MB"


def _encode_original(flat: Image.Image, alpha: Image.Image | None) -> tuple[bytes, str]:
    """Re-encode what was decoded (so nothing but pixels survives: no EXIF, GPS or comments).

    PNG when the photo has transparency (preprocessing uses it as the item's mask),
    JPEG otherwise."""
    out = io.BytesIO()
    if alpha is not None:
        rgba = flat.convert("RGBA")
        rgba.putalpha(alpha)
        rgba.save(out, "PNG")
        return out.getvalue(), ".png"
    flat.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue(), ".jpg"


def _encode_thumbnail(flat: Image.Image) -> bytes:
    out = io.BytesIO()
    working_copy(flat, THUMBNAIL_SIDE).save(out, "JPEG", quality=85)
    return out.getvalue()


def _duplicate_of(sha256: str) -> Photo | None:
    return Photo.objects.filter(Q(sha256=sha256) | Q(stored_sha256=sha256)).order_by("pk").first()


def _nearest_duplicate(signature, *, excluding: int | None = None) -> Photo | None:
    """The stored photo that looks most like this one, if it is a near-duplicate."""
    rows = list(Photo.objects.exclude(signature=None).exclude(pk=excluding).order_by("pk")
                .values_list("pk", "signature"))
    if not rows:
        return None
    found = near_duplicates.distances(signature, np.stack([near_duplicates.signature_from_bytes(s) for _, s in rows]))
    best = int(found.argmin())
    if found[best] >= near_duplicates.DUPLICATE_DISTANCE:
        return None
    return Photo.objects.only("pk", "held_out", "duplicate_group").get(pk=rows[best][0])


# --- where photos come from ----------------------------------------------------------------

SOURCE_MAX = 200
TAG_MAX = 50
_BATCH_KEY = re.compile(r"^[A-Za-z0-9-]{8,40}$")


def photo_batch_for_upload(*, key: str, user: AbstractBaseUser | None) -> PhotoBatch:
    """The batch of one visit to the upload page: the page sends its key with every file it
    uploads, so the photos of one visit share a batch. A key that isn't the page's own (bad or
    missing) starts a batch of its own, never joins someone else's."""
    owner = user.pk if user is not None and user.pk else 0
    if not _BATCH_KEY.match(key or ""):
        key = secrets.token_hex(16)
    batch, _ = PhotoBatch.objects.get_or_create(
        key=f"upload-{owner}-{key}", defaults={"kind": PhotoBatchKind.UPLOAD, "created_by": user})
    return batch


def photo_batch_for_import(*, name: str, user: AbstractBaseUser | None) -> PhotoBatch:
    return PhotoBatch.objects.create(kind=PhotoBatchKind.IMPORT, name=name[:255], created_by=user,
                                     key=f"import-{secrets.token_hex(16)}")


def clean_source(text: str) -> str:
    return " ".join((text or "").split())[:SOURCE_MAX]


def parse_tags(text: str | Iterable[str]) -> list[str]:
    """'worn, Low light,,worn' -> ['low light', 'worn']: comma-separated, trimmed, lower case,
    each once. A tag over 50 characters is refused (ValidationError), not cut."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = sorted({" ".join(part.split()).lower() for part in parts} - {""})
    too_long = [name for name in names if len(name) > TAG_MAX]
    if too_long:
        raise ValidationError(f"A tag is at most {TAG_MAX} characters: {too_long[0][:60]!r} is longer.")
    return names


def photo_tags_set(*, photo: Photo, tags: Iterable[str]) -> list[str]:
    """Replace the photo's tags by ``tags`` (already parsed); returns them."""
    names = parse_tags(tags)
    photo.tags.set([Tag.objects.get_or_create(name=name)[0] for name in names])
    return names


def _read_upload(file: File) -> bytes:
    data = _read_capped(file, settings.PHOTO_MAX_BYTES)
    if not data:
        raise PhotoRejected("is empty")
    return data


def _decode(data: bytes) -> Image.Image:
    try:
        return open_photo(data, max_pixels=settings.PHOTO_MAX_PIXELS)
    except PhotoUnreadable as exc:
        raise PhotoRejected(str(exc)) from None


def photo_model_input(*, file: File) -> np.ndarray:
    """The 28x28 image the model would see of this file, made exactly as photo_upload makes it
    and refused for the same reasons (a photo already in the gallery aside); nothing is stored."""
    with _decode(_read_upload(file)) as image:
        return preprocess(orient(image))


def photo_store(*, file: File, user: AbstractBaseUser | None, batch: PhotoBatch | None = None,
                source: str = "", tags: Iterable[str] = ()) -> Photo:
    """Check, decode and store one photo, as it was uploaded and re-encoded, with its thumbnail,
    the batch it came in, its source and its tags (parsed by parse_tags): quick enough for a web
    request. The photo is PREPARING: photo_prepare (a preparation job on a worker, or the caller
    itself, as photo_upload does) makes what the model sees and finds its near-duplicates.

    Raises PhotoRejected (and stores nothing) for a file that is too large, not a JPEG, PNG
    or WebP image, truncated, a decompression bomb, or already in the gallery. The files and
    the row are written together: if anything fails, the files written so far are removed."""
    tags = parse_tags(tags)  # a bad tag refuses the photo before anything is stored
    data = _read_upload(file)
    sha256 = hashlib.sha256(data).hexdigest()
    existing = _duplicate_of(sha256)
    if existing is not None:
        raise PhotoRejected(f"is already in the gallery as photo #{existing.pk}", existing=existing)
    with _decode(data) as image:
        upright = orient(image)
        flat, alpha = flatten_alpha(upright)
        original, suffix = _encode_original(flat, alpha)
        thumbnail = _encode_thumbnail(flat)
    token = secrets.token_hex(16)
    folder = f"photos/{token[:2]}"
    written: list[str] = []
    try:
        with transaction.atomic():
            written.append(default_storage.save(f"{folder}/{token}{suffix}", ContentFile(original)))
            written.append(default_storage.save(f"{folder}/{token}-thumb.jpg", ContentFile(thumbnail)))
            written.append(default_storage.save(f"{folder}/{token}-upload", ContentFile(data)))
            photo = Photo.objects.create(
                state=PhotoState.PREPARING, original=written[0], thumbnail=written[1], upload=written[2],
                model_input=b"", preprocess_version=0,
                original_name=display_name(file.name), sha256=sha256, stored_sha256=hashlib.sha256(original).hexdigest(),
                width=upright.width, height=upright.height, uploaded_by=user, held_out=is_held_out(sha256),
                batch=batch, source=clean_source(source),
            )
            if tags:
                photo_tags_set(photo=photo, tags=tags)
    except BaseException as exc:
        for name in written:
            default_storage.delete(name)
        if isinstance(exc, IntegrityError) and _duplicate_of(sha256) is not None:
            # Someone uploaded the same bytes a moment ago.
            existing = _duplicate_of(sha256)
            raise PhotoRejected(f"is already in the gallery as photo #{existing.pk}", existing=existing) from None
        raise
    logger.info("photo %s stored for %s (%s, %dx%d)", photo.pk, user, photo.original_name, photo.width, photo.height)
    return photo


def photo_prepare(*, photo_id: int) -> Photo | None:
    """Make what the model sees of a stored photo (from the bytes as uploaded, as photo_store
    kept them) and put it in its near-duplicate group and side of the split: the photo is READY.
    A photo that can't be prepared is FAILED with the reason, and keeps its files. None when the
    photo is gone or not preparing any more (another worker, a second delivery, did it)."""
    photo = Photo.objects.filter(pk=photo_id, state=PhotoState.PREPARING).first()
    if photo is None:
        return None
    try:
        with photo.upload.open("rb") as stored:
            data = stored.read()
        with _decode(data) as image:
            upright = orient(image)
            flat, _alpha = flatten_alpha(upright)
            model_input, box = preprocess_with_box(upright)
            signature = near_duplicates.signature(flat)
    except Exception as exc:  # noqa: BLE001 - whatever it was, the photo is marked with it, not lost
        reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, (PhotoRejected, PhotoUnreadable)) else str(exc)
        Photo.objects.filter(pk=photo.pk, state=PhotoState.PREPARING).update(
            state=PhotoState.FAILED, preparation_error=" ".join(reason.split())[:1000], changed_at=timezone.now())
        logger.warning("photo %s could not be prepared: %s", photo.pk, reason)
        photo.refresh_from_db()
        return photo
    with transaction.atomic():
        twin = _nearest_duplicate(signature, excluding=photo.pk)
        group = (twin.duplicate_group or twin.pk) if twin is not None else None
        if not Photo.objects.filter(pk=photo.pk, state=PhotoState.PREPARING).update(
            state=PhotoState.READY, model_input=model_input.tobytes(), model_input_box=[round(v, 5) for v in box],
            preprocess_version=PREPROCESS_VERSION, signature=near_duplicates.signature_bytes(signature),
            duplicate_group=group, held_out=twin.held_out if twin is not None else photo.held_out, upload="",
            changed_at=timezone.now(),
        ):
            return None
        if twin is not None and twin.duplicate_group is None:
            Photo.objects.filter(pk=twin.pk).update(duplicate_group=twin.pk)
    default_storage.delete(photo.upload.name)  # its work is done; the original is what stays
    photo.refresh_from_db()
    return photo


def photo_upload(*, file: File, user: AbstractBaseUser | None, batch: PhotoBatch | None = None,
                 source: str = "", tags: Iterable[str] = ()) -> Photo:
    """Store one photo (photo_store, refused for the same reasons) and prepare it here and now
    (photo_prepare), for callers that may take their time: `manage.py import_photos`, the API's
    predict that stores. The returned photo is READY, or FAILED with the reason.

    A near-duplicate of a stored photo joins its group and its side of the split (a photo that
    looks like two groups joins the nearer; `manage.py group_photos` regroups everything)."""
    photo = photo_store(file=file, user=user, batch=batch, source=source, tags=tags)
    return photo_prepare(photo_id=photo.pk) or Photo.objects.get(pk=photo.pk)


def photos_preprocess_again(*, photos: Iterable[Photo], failed: list[str] | None = None) -> int:
    """Remake what the model sees from each stored original, with the current preprocessing
    (after PREPROCESS_VERSION changed). A remade photo loses its prediction, which was made
    from the old image; queue a prediction job afterwards. Returns how many were remade; a photo
    whose original can't be read keeps what it had, and `failed` gets a line saying why."""
    count = 0
    for photo in photos:
        try:
            with photo.original.open("rb") as stored:
                image = open_photo(stored.read(), max_pixels=settings.PHOTO_MAX_PIXELS)
        except (OSError, PhotoUnreadable) as exc:
            if failed is not None:
                failed.append(f"photo #{photo.pk} ({photo.original.name}): {exc}")
            continue
        with image:
            model_input, box = preprocess_with_box(image)
        Photo.objects.filter(pk=photo.pk).update(
            model_input=model_input.tobytes(), model_input_box=[round(v, 5) for v in box],
            preprocess_version=PREPROCESS_VERSION, predicted_label=None, confidence=None, probabilities=None,
            predicted_by=None, predicted_at=None, occlusion=None, occlusion_classes=None, changed_at=timezone.now(),
        )
        count += 1
    return count


@dataclass
class Grouping:
    """What `photos_group_near_duplicates` did."""

    groups: int = 0  # groups of two or more photos
    grouped: int = 0  # photos in them
    moved: list[int] = field(default_factory=list)  # photos put on their group's side of the split
    failed: list[str] = field(default_factory=list)  # photos whose original can't be read, why


def photos_group_near_duplicates() -> Grouping:
    """Group every photo with those that look the same (dataset.near_duplicates), computing
    signatures that are missing (photos stored before there were any) from the originals, and
    put each group on its first photo's side of the split. Moving a photo is what keeps a
    duplicate out of both parts; the command that calls this says which photos moved."""
    result = Grouping()
    rows = list(Photo.objects.order_by("pk").values_list("pk", "signature", "held_out", "duplicate_group"))
    signatures, kept = [], []
    for pk, data, held_out, group in rows:
        if data is None:
            photo = Photo.objects.get(pk=pk)
            try:
                with photo.original.open("rb") as stored:
                    image = open_photo(stored.read(), max_pixels=settings.PHOTO_MAX_PIXELS)
            except (OSError, PhotoUnreadable) as exc:
                result.failed.append(f"photo #{pk} ({photo.original.name}): {exc}")
                continue
            with image:
                flat, _alpha = flatten_alpha(image)
                signature = near_duplicates.signature(flat)
            Photo.objects.filter(pk=pk).update(signature=near_duplicates.signature_bytes(signature))
        else:
            signature = near_duplicates.signature_from_bytes(data)
        signatures.append(signature)
        kept.append((pk, held_out, group))
    if not kept:
        return result
    roots = near_duplicates.group(np.stack(signatures))
    sizes: dict[int, int] = {}
    for root in roots:
        sizes[root] = sizes.get(root, 0) + 1
    with transaction.atomic():
        for (pk, held_out, group), root in zip(kept, roots):
            first_pk, first_held_out, _ = kept[root]
            new_group = first_pk if sizes[root] > 1 else None
            new_held_out = first_held_out if sizes[root] > 1 else held_out
            if (new_group, new_held_out) != (group, held_out):
                Photo.objects.filter(pk=pk).update(duplicate_group=new_group, held_out=new_held_out,
                                                   changed_at=timezone.now())  # its card shows the part
            if new_held_out != held_out:
                result.moved.append(pk)
    result.groups = sum(1 for size in sizes.values() if size > 1)
    result.grouped = sum(size for size in sizes.values() if size > 1)
    logger.info("near-duplicates: %d groups of %d photos; %d moved to their group's side", result.groups,
                result.grouped, len(result.moved))
    return result


def photos_delete(*, photos: Iterable[Photo]) -> int:
    """Delete photos (with their corrections) and, once that commits, their files."""
    count = 0
    with transaction.atomic():
        for photo in photos:
            names = [photo.original.name, photo.thumbnail.name, photo.upload.name]
            photo.delete()
            transaction.on_commit(lambda names=names: [default_storage.delete(n) for n in names if n])
            count += 1
    return count


# --- labels -------------------------------------------------------------------------------


class LabelConflict(Exception):
    """The change cannot be made as asked (the label moved on since); the message says why."""


def _check_label(label: int | None) -> None:
    if label is not None and not (isinstance(label, int) and 0 <= label < NUM_CLASSES):
        raise ValueError(f"a label is a class index 0-{NUM_CLASSES - 1} or None, not {label!r}")


def _apply(photo: Photo, correction: LabelCorrection) -> None:
    photo.label = correction.to_label
    labelled = correction.to_label is not None
    photo.labelled_by = correction.user if labelled else None
    photo.labelled_at = correction.created_at if labelled else None
    photo.changed_at = timezone.now()
    photo.save(update_fields=["label", "labelled_by", "labelled_at", "changed_at"])


def _sync(target: Photo, source: Photo) -> None:
    target.label, target.labelled_by, target.labelled_at = source.label, source.labelled_by, source.labelled_at


def _locked_ready(photo: Photo) -> Photo:
    locked = Photo.objects.select_for_update().get(pk=photo.pk)
    if not locked.is_ready:
        # What the model sees is not made yet (or could not be): a label would train on nothing.
        raise LabelConflict(f"Photo #{photo.pk} is {locked.get_state_display()}: it can be labelled once it is ready.")
    return locked


def photo_label_set(*, photo: Photo, label: int | None, user: AbstractBaseUser | None,
                    source: str = "") -> LabelCorrection | None:
    """Give the photo this label (None clears it), recorded as a correction. Setting the label
    it already has records nothing and returns None. LabelConflict for a photo that is not
    ready (still preparing, or failed)."""
    _check_label(label)
    with transaction.atomic():
        locked = _locked_ready(photo)
        if locked.label == label:
            _sync(photo, locked)
            return None
        correction = LabelCorrection.objects.create(
            photo=locked, user=user, from_label=locked.label, to_label=label, source=source[:100],
        )
        _apply(locked, correction)
    _sync(photo, locked)
    logger.info("photo %s labelled %s by %s", photo.pk, label, user)
    return correction


def photo_label_confirm(*, photo: Photo, user: AbstractBaseUser | None, source: str = "") -> LabelCorrection:
    """Say the photo's label is right after a second look (it was "possibly mislabelled"):
    recorded as a correction from the label to itself, so the history shows who looked, and
    the photo leaves the suspects until a later job doubts it again."""
    with transaction.atomic():
        locked = _locked_ready(photo)
        if locked.label is None:
            raise LabelConflict("This photo has no label to confirm.")
        correction = LabelCorrection.objects.create(
            photo=locked, user=user, from_label=locked.label, to_label=locked.label, source=source[:100],
        )
        _apply(locked, correction)
    _sync(photo, locked)
    logger.info("photo %s: label %s confirmed by %s", photo.pk, locked.label, user)
    return correction


def photo_correction_revert(*, correction: LabelCorrection, user: AbstractBaseUser | None,
                            source: str = "undo") -> LabelCorrection:
    """Undo a correction by recording the opposite one. Refused when it was undone already,
    or when the photo's label has changed since (undo the later change first): no one's
    correction is ever silently lost."""
    try:
        with transaction.atomic():
            photo = Photo.objects.select_for_update().get(pk=correction.photo_id)
            if LabelCorrection.objects.filter(reverts=correction).exists():
                raise LabelConflict("This change was undone already.")
            if photo.label != correction.to_label:
                raise LabelConflict(
                    f"The label has changed since, to {_label_name(photo.label)}; undo that change first."
                )
            revert = LabelCorrection.objects.create(
                photo=photo, user=user, from_label=photo.label, to_label=correction.from_label,
                reverts=correction, source=source[:100],
            )
            _apply(photo, revert)
    except IntegrityError:
        raise LabelConflict("This change was undone already.") from None
    logger.info("photo %s: correction %s reverted by %s", photo.pk, correction.pk, user)
    return revert


def _label_name(label: int | None) -> str:
    return CLASS_NAMES[label] if label is not None else "no label"


def photos_label_many(*, photo_ids: Iterable[int], label: int | None, user: AbstractBaseUser | None,
                      source: str = "") -> tuple[list[Photo], list[LabelCorrection], dict[int, str]]:
    """Give each photo this label, each one exactly as photo_label_set does (one correction a
    photo, nothing for one that had it already): the gallery's bulk label. Returns the photos
    found (ready or not, for redrawing), the corrections made, and photo id -> why it was not
    labelled (not ready, gone)."""
    _check_label(label)
    ids = list(dict.fromkeys(int(pk) for pk in photo_ids))
    found = {photo.pk: photo for photo in Photo.objects.filter(pk__in=ids)}
    corrections, refused = [], {}
    for pk in ids:
        if pk not in found:
            refused[pk] = f"Photo #{pk} does not exist."
            continue
        try:
            correction = photo_label_set(photo=found[pk], label=label, user=user, source=source)
        except LabelConflict as exc:
            refused[pk] = str(exc)
            continue
        if correction is not None:
            corrections.append(correction)
    return [found[pk] for pk in ids if pk in found], corrections, refused


# --- preparation jobs ---------------------------------------------------------------------


def photos_prepare_waiting(*, user: AbstractBaseUser | None) -> PreparationJob | None:
    """Make sure photos still preparing get prepared: queue a preparation job unless one that has
    not started yet, and is not stale, will already see them. None when no photo is waiting."""
    if not Photo.objects.filter(state=PhotoState.PREPARING).exists():
        return None
    waiting = job_alive(PreparationJob.objects.filter(status=JobStatus.QUEUED))
    if waiting is not None:
        return waiting
    job = PreparationJob.objects.create(requested_by=user)
    job_enqueue(job=job)
    logger.info("preparation job %s queued by %s", job.pk, user)
    return job


def photos_prepare_orphaned() -> PreparationJob | None:
    """For the sweep: a preparation job for photos still preparing that no queued or running
    preparation job will see (the one that would have failed or was cancelled); None if none."""
    if PreparationJob.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).exists():
        return None
    return photos_prepare_waiting(user=None)


def preparation_job_photos(*, job: PreparationJob) -> list[int]:
    """The worker decides now which photos: every one still preparing."""
    ids = list(Photo.objects.filter(state=PhotoState.PREPARING).order_by("pk").values_list("pk", flat=True))
    job.total, job.done = len(ids), 0
    job_heartbeat(job=job, progress=0.0, total=job.total, done=0)
    return ids


# --- prediction jobs ----------------------------------------------------------------------


def photos_predict(*, scope: str, checkpoint: Checkpoint, user: AbstractBaseUser | None) -> PredictionJob:
    """Queue a prediction job, sent to a worker once the transaction commits. Predicting all
    photos again (with another checkpoint, say) is for staff."""
    if scope not in PredictionScope.values:
        raise ValueError(f"unknown scope {scope!r}")
    if scope == PredictionScope.ALL and not (user is not None and user.is_staff):
        raise PermissionDenied("only staff can predict all photos again")
    job = PredictionJob.objects.create(scope=scope, checkpoint=checkpoint, requested_by=user)
    job_enqueue(job=job)
    logger.info("prediction job %s queued by %s: %s with checkpoint %s", job.pk, user, scope, checkpoint.pk)
    return job


def photos_predict_new(*, user: AbstractBaseUser | None) -> PredictionJob | None:
    """Make sure photos without a prediction get one: queue a job unless one that has not
    started yet, and is not stale, will already see them. None when no checkpoint can predict yet."""
    checkpoint = checkpoint_for_prediction()
    if checkpoint is None:
        return None
    waiting = job_alive(PredictionJob.objects.filter(
        status=JobStatus.QUEUED, scope=PredictionScope.UNPREDICTED, target=PredictionTarget.ACTIVE,
        checkpoint=checkpoint))
    return waiting or photos_predict(scope=PredictionScope.UNPREDICTED, checkpoint=checkpoint, user=user)


def photos_predict_candidate(*, checkpoint: Checkpoint) -> PredictionJob | None:
    """After a run succeeds (the system asks), queue its best checkpoint's second opinion on
    every photo; or, where that checkpoint now predicts the photos itself (nobody promoted one and
    it has the best validation accuracy), predict every photo with it, as a promotion would.
    None when there are no photos."""
    if not Photo.objects.exists():
        return None
    target = PredictionTarget.ACTIVE if checkpoint_for_prediction() == checkpoint else PredictionTarget.CANDIDATE
    job = PredictionJob.objects.create(scope=PredictionScope.ALL, target=target, checkpoint=checkpoint)
    job_enqueue(job=job)
    logger.info("%s prediction job %s queued with checkpoint %s", target, job.pk, checkpoint.pk)
    return job


def prediction_job_start(*, job: PredictionJob, total: int) -> None:
    """The worker has decided which photos: this many."""
    job.total, job.done = total, 0
    job_heartbeat(job=job, progress=0.0, total=total, done=0)


def prediction_job_record(*, job: PredictionJob, results: list[tuple[int, list[float]]],
                          occlusion: dict[int, tuple[bytes, list[int]]] | None = None) -> None:
    """Store one batch's predictions, (photo id, ten probabilities) each, with the progress, and
    where the model looked (photo id -> maps, their classes; see Photo.occlusion). Each batch is a
    heartbeat: a job cancelled or taken back meanwhile stores nothing more."""
    now = timezone.now()
    done = job.done + len(results)
    with transaction.atomic():
        job_heartbeat(job=job, progress=done / job.total if job.total else 1.0, done=done)
        candidate = job.target == PredictionTarget.CANDIDATE
        photos = []
        for photo_id, probabilities in results:
            best = max(range(len(probabilities)), key=probabilities.__getitem__)
            if candidate:
                photos.append(Photo(pk=photo_id, candidate_label=best, candidate_confidence=probabilities[best],
                                    candidate_by=job.checkpoint, changed_at=now))
            else:
                maps, classes = (occlusion or {}).get(photo_id, (None, None))
                photos.append(Photo(pk=photo_id, predicted_label=best, confidence=probabilities[best],
                                    probabilities=probabilities, predicted_by=job.checkpoint, predicted_at=now,
                                    occlusion=maps, occlusion_classes=classes, changed_at=now))
        fields = (["candidate_label", "candidate_confidence", "candidate_by", "changed_at"] if candidate
                  else ["predicted_label", "confidence", "probabilities", "predicted_by", "predicted_at", "occlusion",
                        "occlusion_classes", "changed_at"])
        Photo.objects.bulk_update(photos, fields, batch_size=500)
    job.done = done
