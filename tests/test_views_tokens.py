"""The API tokens page and `manage.py api_token`."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from classifier.models import ApiToken
from classifier.services import tokens as services
from tests.factories import UserFactory


def test_the_page_asks_anonymous_users_to_sign_in(client, db):
    response = client.get(reverse("api_tokens"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_creating_a_token_shows_it_once_and_stores_its_hash(user_client, plain_user):
    response = user_client.post(reverse("api_tokens"), {"name": "my phone"})
    assert response.status_code == 200
    raw = response.context["created"]["raw"]
    assert raw.encode() in response.content
    token = ApiToken.objects.get(user=plain_user)
    assert token.name == "my phone" and services.api_token_authenticate(raw=raw).pk == token.pk
    again = user_client.get(reverse("api_tokens"))
    assert raw.encode() not in again.content and token.prefix.encode() in again.content


def test_revoking_needs_a_post_with_the_csrf_token(plain_user):
    token, raw = services.api_token_create(user=plain_user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(plain_user)
    url = reverse("api_token_revoke", args=[token.pk])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
    assert services.api_token_authenticate(raw=raw) is not None
    page = client.get(reverse("api_tokens"))
    response = client.post(url, {"csrfmiddlewaretoken": page.context["csrf_token"]})
    assert response.status_code == 302
    assert services.api_token_authenticate(raw=raw) is None
    assert b"revoked" in client.get(reverse("api_tokens")).content


def test_nobody_revokes_someone_elses_token(user_client):
    token, raw = services.api_token_create(user=UserFactory())
    assert user_client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 404
    assert services.api_token_authenticate(raw=raw) is not None


def test_a_users_page_lists_only_their_own_tokens(user_client, plain_user):
    mine, _ = services.api_token_create(user=plain_user, name="mine")
    theirs, _ = services.api_token_create(user=UserFactory(), name="theirs")
    assert list(user_client.get(reverse("api_tokens")).context["tokens"]) == [mine]


def test_the_command_prints_a_working_token_as_its_last_line(db):
    user = UserFactory(username="shop")
    out = io.StringIO()
    call_command("api_token", "shop", stdout=out, stderr=io.StringIO())
    raw = out.getvalue().strip().splitlines()[-1]
    assert services.api_token_authenticate(raw=raw).user == user


def test_the_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user named"):
        call_command("api_token", "nobody", stdout=io.StringIO(), stderr=io.StringIO())
