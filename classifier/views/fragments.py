"""Fragments of a page (a gallery's cards, the run list's rows) drawn once per version of what
they show and kept in the "cards" cache: open pages poll for the same ones again and again,
and drawing them was most of a page's cost."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.core.cache import caches
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

# Stands for the request's CSRF token in a cached fragment: the fragment is the same for
# everyone who may see it, the token is not.
_CSRF_SLOT = "csrf-slot-4d1c9e"


def cached_fragments(request, template: str, items: Sequence[Any], *, context: Callable[[Any], dict],
                     drawn_from: Callable[[Any], Iterable]) -> list[SafeString]:
    """Each item's fragment of `template`, drawn with `context(item)`. A fragment must be a
    pure function of `drawn_from(item)` (everything it shows, who looks and from where): that
    is its cache key, digested, so a change to any of it draws the fragment again."""
    keys = [f"{template}:{hashlib.sha256(repr(tuple(drawn_from(item))).encode()).hexdigest()}" for item in items]
    store = caches["cards"]
    found = store.get_many(keys)
    made = {key: render_to_string(template, {**context(item), "csrf_token": _CSRF_SLOT})
            for key, item in zip(keys, items) if key not in found}
    if made:
        store.set_many(made)
    token = get_token(request) if any(_CSRF_SLOT in html for html in (*found.values(), *made.values())) else None
    return [mark_safe((found.get(key) or made[key]).replace(_CSRF_SLOT, token or "")) for key in keys]


def loaded_fields(obj) -> tuple:
    """What a model instance holds, as loaded (its columns and annotations, not Django's own state)."""
    return tuple((k, v) for k, v in vars(obj).items() if not k.startswith("_")) if obj is not None else ()
