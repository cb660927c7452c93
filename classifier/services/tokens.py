"""Creating, checking and revoking personal API tokens, whoever asks: the tokens page,
`manage.py api_token`, the API's authentication."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from classifier.models import ApiToken

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "fmn_"  # says what the string is when it turns up in a log or a config file
PREFIX_SHOWN = 12  # characters kept in clear, to tell tokens apart: "fmn_" and 8 of the secret
# Last use is written at most this often per token: a busy script's every call need not write a row.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_digest(raw: str) -> str:
    # A plain sha256 suffices (no slow password hash): the secret is 256 random bits, not
    # something a person chose, so there is nothing to guess from the digest.
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str = "") -> tuple[ApiToken, str]:
    """A new token for the user: the row, and the token itself, which is never stored and so
    can be shown only now."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name.strip()[:100], prefix=raw[:PREFIX_SHOWN],
                                    digest=token_digest(raw))
    logger.info("API token %s (%s…) created for %s", token.pk, token.prefix, user)
    return token, raw


def api_token_revoke(*, token: ApiToken) -> bool:
    """Revoke the token from now on; False when it was revoked already."""
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])
    if changed:
        logger.info("API token %s (%s…) of %s revoked", token.pk, token.prefix, token.user_id)
    return bool(changed)


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The active token this string is, with its user (an active account), recording its use;
    None for anything else."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (ApiToken.objects.select_related("user")
             .filter(digest=token_digest(raw), revoked_at__isnull=True, user__is_active=True).first())
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
