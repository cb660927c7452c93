"""Who calls: a personal API token, sent as `Authorization: Bearer <token>`; and how often."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from ninja.security import HttpBearer

from classifier.services.tokens import api_token_authenticate


class RateLimited(Exception):
    def __init__(self, retry_after: float):
        super().__init__(f"Too many requests: at most {settings.API_RATE_LIMIT_PER_MINUTE} a minute per token; "
                         f"try again in {math.ceil(retry_after)} s.")
        self.retry_after = retry_after


def _count_request(token_id: int) -> None:
    """A fixed window per token per minute, counted in Django's cache: simple, and enough to
    stop a runaway script from monopolising the workers."""
    limit = settings.API_RATE_LIMIT_PER_MINUTE
    if not limit:
        return
    now = time.time()
    window = int(now // 60)
    key = f"api-rate:{token_id}:{window}"
    cache.add(key, 0, timeout=65)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=65)
        count = 1
    if count > limit:
        raise RateLimited(retry_after=(window + 1) * 60 - now)


class BearerToken(HttpBearer):
    def authenticate(self, request, token: str):
        api_token = api_token_authenticate(raw=token.strip())
        if api_token is None:
            return None
        _count_request(api_token.pk)
        # Services take the user who asks, as for a page.
        request.user = api_token.user
        return api_token
