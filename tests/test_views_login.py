"""Signing in is throttled per user name and per address (django-axes): each wrong password
costs an expensive hash, so a few clients could otherwise tie up the CPU, and guess."""

from django.test import Client
from django.urls import reverse

from fmnistsite.proxy import client_ip
from tests.factories import UserFactory

PASSWORD = "pw-for-tests"


def _sign_in(username: str, password: str, address: str = "198.51.100.7", **headers):
    return Client(REMOTE_ADDR=address, **headers).post(reverse("login"), {"username": username, "password": password})


def _signed_in(response) -> bool:
    return response.status_code == 302 and response.url == reverse("run_list")


def test_after_5_wrong_passwords_even_the_right_one_is_refused_for_that_user(db, settings):
    user = UserFactory()
    assert settings.AXES_FAILURE_LIMIT == 5
    answers = [_sign_in(user.username, "wrong", address=f"203.0.113.{i}").status_code for i in range(5)]
    assert answers == [200] * 4 + [429]  # the form again with its error, then locked at the 5th
    locked = _sign_in(user.username, PASSWORD, address="203.0.113.99")  # from yet another address
    assert locked.status_code == 429 and "Too many sign-in attempts" in locked.content.decode()
    assert _signed_in(_sign_in(UserFactory().username, PASSWORD, address="203.0.113.99"))  # others still can


def test_after_5_wrong_passwords_from_one_address_it_is_refused_for_every_user(db):
    answers = [_sign_in(UserFactory().username, "wrong").status_code for _ in range(5)]
    assert answers == [200] * 4 + [429]
    someone = UserFactory()
    assert _sign_in(someone.username, PASSWORD).status_code == 429
    assert _signed_in(_sign_in(someone.username, PASSWORD, address="192.0.2.1"))


def test_a_right_password_resets_the_count(db):
    user = UserFactory()
    for _ in range(4):
        _sign_in(user.username, "wrong")
    assert _signed_in(_sign_in(user.username, PASSWORD))
    for _ in range(4):
        assert _sign_in(user.username, "wrong").status_code == 200
    assert _signed_in(_sign_in(user.username, PASSWORD))


def test_behind_the_proxy_the_address_is_the_one_the_proxy_added(rf, settings):
    settings.BEHIND_HTTPS_PROXY = True
    # A client may send any X-Forwarded-For; the proxy appends the address it saw.
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7")
    assert client_ip(request) == "198.51.100.7"
    settings.BEHIND_HTTPS_PROXY = False  # no proxy: the header is anyone's, and ignored
    assert client_ip(request) == "10.0.0.2"
