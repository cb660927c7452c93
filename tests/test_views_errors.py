"""The 403 and 404 pages say why and link home."""

from django.urls import reverse


def test_404_says_what_was_not_found_and_links_home(user_client):
    response = user_client.get("/runs/999999/")
    page = response.content.decode()
    assert response.status_code == 404 and 'id="error-404"' in page
    assert "/runs/999999/" in page and f'href="{reverse("run_list")}"' in page
    assert "Sign out" in page  # the site's own layout, with its navigation


def test_an_unknown_address_gets_the_same_page(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and 'id="error-404"' in response.content.decode()


def test_403_says_why_and_links_home(user_client):
    response = user_client.get(reverse("run_new"))
    page = response.content.decode()
    assert response.status_code == 403 and 'id="error-403"' in page
    assert "Only staff can do this." in page and "who is not staff" in page
    assert f'href="{reverse("run_list")}"' in page
