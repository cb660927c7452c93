"""API tokens: made from a random secret, kept only as its sha256, recorded when used, revocable."""

import hashlib
from datetime import timedelta

from django.utils import timezone

from classifier.models import ApiToken
from classifier.services import tokens as services
from tests.factories import UserFactory


def test_a_token_is_stored_only_as_its_sha256_with_a_prefix_to_tell_it_apart(db):
    user = UserFactory()
    token, raw = services.api_token_create(user=user, name="shop")
    row = ApiToken.objects.get(pk=token.pk)
    assert row.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(row.prefix) and len(row.prefix) == services.PREFIX_SHOWN
    # The secret itself is in no column.
    assert all(raw not in str(value) for value in ApiToken.objects.filter(pk=token.pk).values().first().values())
    assert len(raw) > 40 and row.name == "shop"


def test_two_tokens_differ(db):
    user = UserFactory()
    assert services.api_token_create(user=user)[1] != services.api_token_create(user=user)[1]


def test_a_token_authenticates_its_user_and_records_its_last_use(db):
    user = UserFactory()
    token, raw = services.api_token_create(user=user)
    assert token.last_used_at is None
    found = services.api_token_authenticate(raw=raw)
    assert found.pk == token.pk and found.user == user
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(db):
    token, raw = services.api_token_create(user=UserFactory())
    services.api_token_authenticate(raw=raw)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    services.api_token_authenticate(raw=raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    services.api_token_authenticate(raw=raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first - timedelta(seconds=1)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > timezone.now() - timedelta(seconds=30)


def test_unknown_altered_and_revoked_tokens_are_refused(db):
    token, raw = services.api_token_create(user=UserFactory())
    assert services.api_token_authenticate(raw="") is None
    assert services.api_token_authenticate(raw="not a token") is None
    assert services.api_token_authenticate(raw=raw[:-1] + ("a" if raw[-1] != "a" else "b")) is None
    assert services.api_token_authenticate(raw=token.digest) is None  # the stored digest is no token
    assert services.api_token_revoke(token=token) is True
    assert services.api_token_revoke(token=token) is False
    assert services.api_token_authenticate(raw=raw) is None


def test_an_inactive_users_tokens_are_refused(db):
    user = UserFactory()
    _, raw = services.api_token_create(user=user)
    user.is_active = False
    user.save()
    assert services.api_token_authenticate(raw=raw) is None
