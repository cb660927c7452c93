"""Reads for the API tokens page."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, QuerySet
from django.shortcuts import get_object_or_404

from classifier.models import ApiToken


def api_tokens_of(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The user's tokens, active ones first, newest first."""
    return ApiToken.objects.filter(user=user).order_by(F("revoked_at").asc(nulls_first=True), "-created_at", "-pk")


def api_token_get_for_user(*, token_id: int, user: AbstractBaseUser) -> ApiToken:
    """The user's own token; someone else's is a 404, as if it did not exist."""
    return get_object_or_404(ApiToken, pk=token_id, user=user)
