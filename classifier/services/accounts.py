"""The first staff account, made on a new installation (./run.sh, the compose `migrate` step)."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction


def staff_user_ensure(*, username: str, email: str, password: str | None = None) -> str | None:
    """Create a superuser when there is none yet; return its password (generated unless one is
    given), or None when a superuser already exists, so a password is shown only once, on the
    first start."""
    users = get_user_model()
    with transaction.atomic():
        if users.objects.filter(is_superuser=True).exists():
            return None
        password = password or secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email=email, password=password)
    return password
