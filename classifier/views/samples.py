"""Pictures of dataset samples for the report pages, rendered from the dataset itself (never
copied into the database) and cached: in this process, and by the browser."""

from __future__ import annotations

import functools

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.views.decorators.http import require_GET

from dataset.fashion_mnist import load_split
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
