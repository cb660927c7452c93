"""Pictures of dataset samples for the report pages, rendered from the dataset itself (never
copied into the database) and cached: in this process, and by the browser."""

from __future__ import annotations

import functools

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.views.decorators.http import require_GET

from classifier.models import EvaluationReport
from dataset.fashion_mnist import load_split
from dataset.photo_sets import file_for_key
from dataset.photos import PhotoUnreadable, open_photo, preprocess
from dataset.thumbnails import enlarged_png

# A test image never changes; a week keeps it cached while a new dataset copy still shows up.
IMAGE_MAX_AGE_S = 7 * 24 * 3600


@functools.lru_cache(maxsize=4096)  # ~1 KB each: a few MB for every test image ever shown
def _fmnist_test_png(index: int) -> bytes:
    return enlarged_png(load_split("test").images[index])


@require_GET
@login_required
def fmnist_test_image(request, index: int):
    split = load_split("test")
    if not 0 <= index < len(split):
        raise Http404(f"no test image {index}")
    etag = f'"{split.fingerprint[:16]}-{index}"'
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(_fmnist_test_png(index), content_type="image/png")
    response["ETag"] = etag
    response["Cache-Control"] = f"private, max-age={IMAGE_MAX_AGE_S}"
    return response


@require_GET
@login_required
def report_sample_image(request, report_id: int, index: int):
    """Sample ``index`` of a report on an outside folder or manifest, preprocessed again from its
    file (such sets are not in the database). Only files the report itself listed are read."""
    report = EvaluationReport.objects.only("dataset_name", "sample_keys").filter(pk=report_id).first()
    if report is None or not report.sample_keys or not 0 <= index < len(report.sample_keys):
        raise Http404("no such sample")
    try:
        path = file_for_key(report.dataset_name, report.sample_keys[index])
        with open_photo(path) as image:
            png = enlarged_png(preprocess(image))
    except (FileNotFoundError, PhotoUnreadable, OSError):
        raise Http404("the file of this sample is gone or unreadable") from None
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response
