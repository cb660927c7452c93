"""Photo pages: upload, gallery (with keyboard review), a photo's page, and its files.

Photos belong to the team: every signed-in user sees and labels all of them; predicting all
photos again is for staff. Files are served by views that check who asks, never as static
files, with the content type we wrote them with.
"""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_POST
from PIL import Image

from classifier import heatmaps
from classifier.models import DEFAULT_FOLDS, Checkpoint, PredictionScope
from classifier.selectors import label_issues as label_issue_selectors
from classifier.selectors import photos as photo_selectors
from classifier.selectors import promotions as promotion_selectors
from classifier.services import jobs as job_services
from classifier.services import label_issues as label_issue_services
from classifier.services import photos as photo_services
from classifier.views.access import staff_required
from classifier.views.fragments import cached_fragments
from classifier.views.jobs import LIVE_POLL_MS, say_queued
from dataset.classes import CLASS_NAMES
from dataset.photos import PREPROCESS_VERSION

# A page renders in a few tens of milliseconds (tools/gallery_load.py); 60 fill rows of 2 to 6 cards.
PAGE_SIZE = 60
# How far each live update looks back before the last one (see _since).
LIVE_OVERLAP = timedelta(seconds=3)
# One bulk label: a page's worth, each its own correction, in one request.
MAX_BULK_LABEL = PAGE_SIZE
# The no-script upload form may send several photos in one request; each is checked on its own.
MAX_FILES_PER_REQUEST = 20
_FORM_OVERHEAD = 64 * 1024  # multipart boundaries, headers and the CSRF token


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _preparation_note(user) -> str:
    """What happens next to photos just stored: a worker prepares them (what the model sees), then
    the model predicts them; meanwhile the gallery shows them as preparing."""
    job = photo_services.photos_prepare_waiting(user=user)
    if job is None:
        return ""
    if job_services.job_send_failed(job):
        return f"Stored; preparation job #{job.pk} waits: {job_services.QUEUE_UNREACHABLE}"
    note = (f"Stored; a worker prepares what the model sees (preparation job #{job.pk}), then predicts it. The "
            f"gallery shows the photos as preparing and updates by itself.")
    if photo_selectors.checkpoint_for_prediction() is None:
        note += (" No trained model yet: photos are shown as not predicted yet; staff can predict them once a "
                 "training run succeeds.")
    return note


def _upload_origin(request) -> dict:
    """Where this upload's photos come from, as the upload form says: its batch (the page's key),
    the source and the tags typed in. ValidationError for a tag that is too long."""
    return {
        "batch": photo_services.photo_batch_for_upload(key=request.POST.get("batch", ""), user=request.user),
        "source": request.POST.get("source", ""),
        "tags": photo_services.parse_tags(request.POST.get("tags", "")),
    }


def _upload_one(file, user, origin: dict) -> dict:
    name = photo_services.display_name(file.name)
    try:
        photo = photo_services.photo_store(file=file, user=user, **origin)
    except photo_services.PhotoRejected as exc:
        result = {"ok": False, "name": name, "error": f"{name or 'This file'} {exc}"}
        if exc.existing is not None:
            result["url"] = reverse("photo_detail", args=[exc.existing.pk])
        return result
    return {"ok": True, "name": name, "id": photo.pk, "url": reverse("photo_detail", args=[photo.pk]),
            "thumbnail": reverse("photo_thumbnail", args=[photo.pk])}


@login_required
def photo_upload(request):
    """The upload page; its form (for browsers without scripts) may post several photos."""
    results, note = [], ""
    batch_key = secrets.token_hex(16)  # one batch per visit to the page (photo_batch_for_upload)
    if request.method == "POST":
        if _content_length(request) > MAX_FILES_PER_REQUEST * settings.PHOTO_MAX_BYTES + _FORM_OVERHEAD:
            return HttpResponse("Too much at once: upload fewer photos per request.", status=413)
        files = request.FILES.getlist("photo")
        try:
            origin = _upload_origin(request)
        except ValidationError as exc:
            origin, files = None, []
            results = [{"ok": False, "name": "", "error": exc.messages[0]}]
        results += [_upload_one(f, request.user, origin) for f in files[:MAX_FILES_PER_REQUEST]]
        # The rest are said to be left out, each by name, rather than dropped without a word.
        results += [{"ok": False, "name": photo_services.display_name(f.name),
                     "error": f"{photo_services.display_name(f.name) or 'This file'} was not taken: one upload takes "
                              f"at most {MAX_FILES_PER_REQUEST} files; upload it again."}
                    for f in files[MAX_FILES_PER_REQUEST:]]
        if any(r["ok"] for r in results):
            note = _preparation_note(request.user)
    return render(request, "classifier/photo_upload.html", {
        "results": results, "note": note, "max_bytes": settings.PHOTO_MAX_BYTES,
        "max_megapixels": settings.PHOTO_MAX_PIXELS // 1_000_000, "batch_key": batch_key,
        "source": request.POST.get("source", ""), "tags": request.POST.get("tags", ""),
    })


@require_POST
@login_required
def photo_upload_file(request):
    """One photo per request, answered in JSON: the upload page's script sends each file on
    its own, so each gets its own progress bar and its own message."""
    if _content_length(request) > settings.PHOTO_MAX_BYTES + _FORM_OVERHEAD:
        limit = settings.PHOTO_MAX_BYTES / 2**20
        return JsonResponse({"ok": False, "error": f"is too large: the limit is {limit:.0f} MB"}, status=413)
    files = request.FILES.getlist("photo")
    if len(files) != 1:
        return JsonResponse({"ok": False, "error": "Send exactly one file, as the field 'photo'."}, status=400)
    try:
        origin = _upload_origin(request)
    except ValidationError as exc:
        return JsonResponse({"ok": False, "error": exc.messages[0]}, status=400)
    result = _upload_one(files[0], request.user, origin)
    if not result["ok"]:
        return JsonResponse(result, status=400)
    result["prediction"] = _preparation_note(request.user)
    return JsonResponse(result, status=201)


def _gallery_back(filters, page_number: int) -> str:
    """Where a card's no-script label form comes back to: this page of the gallery."""
    query = filters.as_query()
    if page_number > 1:
        query["page"] = str(page_number)
    return f"{reverse('photo_gallery')}?{urlencode(query)}"


def _gallery_jobs(filters, photos) -> dict:
    """The gallery's jobs and whether its page should keep asking for changes: while a job that
    changes cards runs, or a card on the page is still preparing."""
    # The preparation job first: it queues the prediction job before it ends, so a page can't
    # miss both.
    preparing = photo_selectors.preparation_job_active() is not None or any(p.is_preparing for p in photos)
    job = photo_selectors.prediction_job_for_gallery()
    label_job = label_issue_selectors.label_issue_job_for_gallery()
    active = preparing or getattr(job, "is_active", False) or getattr(label_job, "is_active", False)
    return {"job": job, "label_job": label_job, "live_active": active, "filters": filters}


def _since(now) -> str:
    # Changes committed a little after `now` may carry a changed_at a little before it (the
    # transaction that wrote it took a while): the next ask overlaps the last by a few seconds, and
    # a card sent twice is only swapped twice.
    return f"{(now - LIVE_OVERLAP).timestamp():.6f}"


@login_required
def photo_gallery(request):
    filters = photo_selectors.GalleryFilters.from_query(request.GET)
    now = timezone.now()
    page = Paginator(photo_selectors.photos_for_gallery(filters=filters), PAGE_SIZE).get_page(request.GET.get("page"))
    photos = list(page.object_list)
    back = _gallery_back(filters, page.number)
    choice = promotion_selectors.prediction_choice()
    context = {
        **_gallery_jobs(filters, photos),
        "page": page, "photos": photos, "cards": _cards(request, photos, back),
        "query": back.partition("?")[2], "back": back, "since": _since(now),
        "filter_query": urlencode(filters.as_query()),
        "show_choices": photo_selectors.SHOW_CHOICES, "order_choices": photo_selectors.ORDER_CHOICES,
        "split_choices": photo_selectors.SPLIT_CHOICES,
        "classes": list(enumerate(CLASS_NAMES)), "poll_ms": LIVE_POLL_MS,
        "choice": choice, "checkpoint": choice.checkpoint if choice else None,
        "sources": photo_selectors.photo_sources(), "tags": photo_selectors.photo_tag_names(),
    }
    if request.user.is_staff:
        context["checkpoints"] = photo_selectors.checkpoints_for_choice()
        context["outdated"] = photo_selectors.photos_prepared_by_older_version().count()
        context["preprocess_version"] = PREPROCESS_VERSION
    return render(request, "classifier/photo_gallery.html", context)


def _cards(request, photos, back: str) -> list[str]:
    """The photos' gallery cards, each drawn once per version of what it shows: the photo's
    changed_at (every change a card shows moves it), its suspicion and the page it returns to."""
    return cached_fragments(
        request, "classifier/_photo_card.html", photos,
        context=lambda photo: {"photo": photo, "back": back},
        drawn_from=lambda p: (p.pk, p.changed_at, getattr(p, "suspect_score", None), getattr(p, "suspect_class", None),
                              getattr(p, "suspect_open", None), back))


def _card(request, photo, back: str) -> str:
    return _cards(request, [photo], back)[0]


def _ids(raw) -> list[int]:
    return [int(part) for part in raw if part.isdigit()]


@require_GET
@login_required
def photo_gallery_changes(request):
    """The gallery's live updates, asked for every few seconds while something on the page may
    change: its jobs' part, and the cards of the photos it shows (`ids`) that changed since the
    last answer (`since`, as that answer gave it), never the whole grid. A label issue job that
    finished since then changes the suspicion on every card: all are sent."""
    filters = photo_selectors.GalleryFilters.from_query(request.GET)
    ids = _ids(request.GET.get("ids", "").split(","))[:PAGE_SIZE]
    now = timezone.now()
    try:
        since = datetime.fromtimestamp(float(request.GET.get("since", "")), tz=UTC)
    except (ValueError, OverflowError):
        since = None  # no answer yet to go on: every card
    latest = label_issue_selectors.label_issue_job_latest()
    if since is not None and latest is not None and latest.finished_at and latest.finished_at >= since:
        since = None
    photos = photo_selectors.photos_changed(photo_ids=ids, since=since)
    page = request.GET.get("page", "")
    back = _gallery_back(filters, int(page) if page.isdigit() else 1)
    context = _gallery_jobs(filters, photos)
    return JsonResponse({
        "since": _since(now), "active": bool(context["live_active"]),
        "jobs": render_to_string("classifier/_photo_gallery_live.html", context, request=request),
        "cards": dict(zip([photo.pk for photo in photos], _cards(request, photos, back))),
    })


def _photo_nav(request, photo_id: int) -> dict:
    """Previous and next in the gallery view the photo was opened from (its query string: the
    gallery's filter and order), and the way back to the page of that view that shows it."""
    filters = photo_selectors.GalleryFilters.from_query(request.GET)
    neighbours = photo_selectors.photo_neighbours(photo_id=photo_id, filters=filters)
    query = filters.as_query()
    back = dict(query)
    if neighbours.position and neighbours.position > PAGE_SIZE:
        back["page"] = str((neighbours.position - 1) // PAGE_SIZE + 1)
    return {"nav": neighbours, "nav_query": urlencode(query), "nav_filters": filters,
            "nav_show": photo_selectors.SHOW_CHOICES[filters.show], "nav_order": photo_selectors.ORDER_CHOICES[filters.order],
            "gallery_url": f"{reverse('photo_gallery')}?{urlencode(back)}"}


@login_required
def photo_detail(request, photo_id: int):
    photo = photo_selectors.photo_get(photo_id=photo_id)
    return render(request, "classifier/photo_detail.html", {
        "photo": photo, "history": photo_selectors.photo_history(photo=photo),
        "classes": list(enumerate(CLASS_NAMES)), "suspicion": label_issue_selectors.photo_suspicion(photo=photo),
        "choice": promotion_selectors.prediction_choice(), **_photo_nav(request, photo.pk),
    })


def _photo_json(request, photo, correction=None) -> dict:
    card = _card(request, photo, request.POST.get("next") or reverse("photo_gallery"))
    return {
        "ok": True, "id": photo.pk, "label": photo.label,
        "label_name": CLASS_NAMES[photo.label] if photo.label is not None else None,
        "correction": correction.pk if correction else None, "card": card,
    }


def _back(request, photo_id: int):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect("photo_detail", photo_id=photo_id)


def _refusal(request, photo_id: int, message: str, status: int):
    if _wants_json(request):
        return JsonResponse({"ok": False, "error": message}, status=status)
    messages.error(request, message)
    return _back(request, photo_id)


@require_POST
@login_required
def photo_label(request, photo_id: int):
    """Set (or clear) a photo's label: 'label' is a class index, '' for none, or 'prediction'."""
    photo = photo_selectors.photo_get(photo_id=photo_id)
    raw = request.POST.get("label", "").strip()
    if raw == "prediction":
        if photo.predicted_label is None:
            return _refusal(request, photo.pk, "This photo has no prediction to accept yet.", 409)
        label = photo.predicted_label
    else:
        try:
            label = _label_of(raw)
        except ValueError as exc:
            return _refusal(request, photo.pk, str(exc), 400)
    source = request.POST.get("source", "") or "photo page"
    try:
        correction = photo_services.photo_label_set(photo=photo, label=label, user=request.user, source=source)
    except photo_services.LabelConflict as exc:
        return _refusal(request, photo.pk, str(exc), 409)
    if _wants_json(request):
        return JsonResponse(_photo_json(request, photo, correction))
    if correction is not None:
        messages.success(request, f"Photo #{photo.pk} labelled {correction.to_label_display}.")
    return _back(request, photo.pk)


def _label_of(raw: str) -> int | None:
    """A posted label: a class index, or '' for none; ValueError with the reason otherwise."""
    if raw == "":
        return None
    if raw.isdigit() and int(raw) < len(CLASS_NAMES):
        return int(raw)
    raise ValueError(f"{raw!r} is not a class.")


@require_POST
@login_required
def photos_label_bulk(request):
    """Give every selected photo (the gallery's ticked cards, 'photo' once each) one label ('label':
    a class index, or 'none' to clear it): each is recorded as its own correction, as labelling it
    alone would be. Answers with the redrawn
    cards in JSON, else back to the gallery with a message."""
    ids = _ids(request.POST.getlist("photo"))
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("photo_gallery")
    raw = request.POST.get("label", "").strip()
    try:
        if raw == "":
            raise ValueError("Choose the class to give the selected photos.")
        label = None if raw == "none" else _label_of(raw)
        if not ids:
            raise ValueError("No photos selected: tick the photos to label first.")
        if len(ids) > MAX_BULK_LABEL:
            raise ValueError(f"At most {MAX_BULK_LABEL} photos at once; select fewer.")
    except ValueError as exc:
        if _wants_json(request):
            return JsonResponse({"ok": False, "error": str(exc)}, status=400)
        messages.error(request, str(exc))
        return redirect(back)
    photos, corrections, refused = photo_services.photos_label_many(
        photo_ids=ids, label=label, user=request.user, source=request.POST.get("source", "") or "gallery (bulk)")
    name = CLASS_NAMES[label] if label is not None else "no label"
    text = (f"{len(corrections)} photo{pluralize(len(corrections))} labelled {name}"
            + (f"; {len(photos) - len(corrections) - len(refused)} had that label already"
               if len(photos) - len(corrections) - len(refused) else "")
            + (f"; {len(refused)} not changed: " + " ".join(refused.values()) if refused else "") + ".")
    if _wants_json(request):
        return JsonResponse({"ok": True, "message": text, "label": label, "corrections": [c.pk for c in corrections],
                             "refused": refused, "cards": dict(zip([p.pk for p in photos], _cards(request, photos, back)))})
    (messages.warning if refused else messages.success)(request, text)
    return redirect(back)


@require_POST
@login_required
def photo_label_confirm(request, photo_id: int):
    """The label is right (after a second look at a possibly mislabelled photo): recorded as a correction."""
    photo = photo_selectors.photo_get(photo_id=photo_id)
    try:
        correction = photo_services.photo_label_confirm(photo=photo, user=request.user,
                                                        source=request.POST.get("source", "") or "photo page (confirm)")
    except photo_services.LabelConflict as exc:
        return _refusal(request, photo.pk, str(exc), 409)
    if _wants_json(request):
        return JsonResponse(_photo_json(request, photo, correction))
    messages.success(request, f"Photo #{photo.pk}: label {correction.to_label_display} confirmed.")
    return _back(request, photo.pk)


@require_POST
@login_required
def photo_tags(request, photo_id: int):
    """Replace a photo's tags with the comma-separated ones the form sends."""
    photo = photo_selectors.photo_get(photo_id=photo_id)
    try:
        names = photo_services.photo_tags_set(photo=photo, tags=photo_services.parse_tags(request.POST.get("tags", "")))
    except ValidationError as exc:
        return _refusal(request, photo.pk, exc.messages[0], 400)
    if _wants_json(request):
        return JsonResponse({"ok": True, "id": photo.pk, "tags": names})
    messages.success(request, f"Photo #{photo.pk} tagged {', '.join(names)}." if names else
                     f"Photo #{photo.pk} has no tags now.")
    return _back(request, photo.pk)


@require_POST
@staff_required
def label_issues_find(request):
    """Staff: score every labelled photo for how likely its label is wrong (a job on a worker)."""
    raw = request.POST.get("folds", "").strip()
    try:
        job = label_issue_services.label_issues_find(user=request.user, folds=int(raw) if raw else DEFAULT_FOLDS)
    except (ValueError, ValidationError) as exc:
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else f"{raw!r} is not a number of folds."
        messages.error(request, text)
        return redirect("photo_gallery")
    say_queued(request, job, f"Label issue job #{job.pk} queued: every labelled photo, as seen by checkpoint "
                             f"#{job.checkpoint_id}.")
    return redirect(job.get_absolute_url())


def _label_issue_job_context(job_id: int) -> dict:
    job = label_issue_selectors.label_issue_job_get(job_id=job_id)
    return {"job": job, "poll_ms": LIVE_POLL_MS,
            "suspects": label_issue_selectors.label_suspects(job=job)[:12] if job.succeeded else []}


@login_required
def label_issue_job_detail(request, job_id: int):
    return render(request, "classifier/label_issue_job_detail.html", _label_issue_job_context(job_id))


@login_required
def label_issue_job_live(request, job_id: int):
    return render(request, "classifier/_label_issue_job_live.html", _label_issue_job_context(job_id))


@require_POST
@login_required
def correction_revert(request, correction_id: int):
    correction = photo_selectors.correction_get(correction_id=correction_id)
    try:
        revert = photo_services.photo_correction_revert(correction=correction, user=request.user,
                                                        source=request.POST.get("source", "") or "undo")
    except photo_services.LabelConflict as exc:
        return _refusal(request, correction.photo_id, str(exc), 409)
    photo = photo_selectors.photo_get(photo_id=correction.photo_id)
    if _wants_json(request):
        return JsonResponse(_photo_json(request, photo, revert))
    messages.success(request, f"Undone: photo #{photo.pk} is now {revert.to_label_display}.")
    return _back(request, photo.pk)


@require_POST
@staff_required
def photos_predict_all(request):
    checkpoint = get_object_or_404(Checkpoint, pk=request.POST.get("checkpoint") or 0)
    job = photo_services.photos_predict(scope=PredictionScope.ALL, checkpoint=checkpoint, user=request.user)
    say_queued(request, job, f"Prediction job #{job.pk} queued: all photos, with checkpoint #{checkpoint.pk} "
                             f"(run #{checkpoint.run_id}, epoch {checkpoint.epoch}).")
    return redirect("photo_gallery")


# --- files --------------------------------------------------------------------------------

_CONTENT_TYPES = {".jpg": "image/jpeg", ".png": "image/png"}


def _serve(field) -> FileResponse:
    name = field.name or ""
    suffix = name[name.rfind("."):].lower()
    try:
        handle = field.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing on the server.") from None
    response = FileResponse(handle, content_type=_CONTENT_TYPES.get(suffix, "application/octet-stream"))
    # Stored files never change (a new photo gets a new random name).
    response["Cache-Control"] = "private, max-age=86400, immutable"
    return response


@require_GET
@login_required
def photo_original(request, photo_id: int):
    return _serve(photo_selectors.photo_get(photo_id=photo_id).original)


@require_GET
@login_required
def photo_thumbnail(request, photo_id: int):
    return _serve(photo_selectors.photo_get(photo_id=photo_id).thumbnail)


@require_GET
@login_required
def photo_occlusion(request, photo_id: int, class_index: int, over: str):
    """Where the model looked for this class: its occlusion map over what it sees, or over the photo."""
    photo = photo_selectors.photo_get(photo_id=photo_id)
    heat = photo.occlusion_map(class_index)
    if heat is None or over not in ("model-input", "photo") or (over == "photo" and not photo.model_input_box):
        raise Http404("No such map: the photo's latest prediction made none for this class.")
    if over == "model-input":
        data = heatmaps.over_model_input(photo.model_input_array(), heat)
    else:
        try:
            with photo.thumbnail.open("rb") as stored:
                thumbnail = Image.open(io.BytesIO(stored.read()))
                thumbnail.load()
        except FileNotFoundError:
            raise Http404("The file is missing on the server.") from None
        data = heatmaps.over_photo(thumbnail, heat, photo.model_input_box)
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, max-age=60"
    return response


@require_GET
@login_required
def photo_model_input(request, photo_id: int):
    """What the model sees: the stored 28x28 image as a PNG (pages scale it up, pixelated)."""
    photo = photo_selectors.photo_get(photo_id=photo_id)
    if not photo.is_ready:
        raise Http404(f"Photo #{photo.pk} is {photo.get_state_display()}: there is no image for the model yet.")
    response = HttpResponse(photo.model_input_png(), content_type="image/png")
    response["Cache-Control"] = "private, max-age=60"
    return response
