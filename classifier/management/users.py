"""The user a management command acts as (`--user NAME`), the same refusals in every command."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def command_user(username: str | None, *, staff_to: str | None = None):
    """The user named ``username`` (None for none); CommandError if there is no such user, or,
    with ``staff_to`` ("evaluate checkpoints"), if they are not staff."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user named {username!r}")
    if staff_to and not user.is_staff:
        raise CommandError(f"{username!r} is not staff; only staff can {staff_to}")
    return user
