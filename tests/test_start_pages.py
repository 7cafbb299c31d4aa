"""Each demo account signs in and lands on its own start page, in German by default and English on request."""

import pytest

from tourbook.demo import DEMO_PASSWORD


@pytest.mark.parametrize(
    ("email", "expected_path", "expected_text"),
    [
        ("admin@demo.example", "/admin/cities", "Siegen"),
        ("coordinator@demo.example", "/c/siegen/", "Siegen"),
        ("guide@demo.example", "/tours/", "Gisela"),
        ("hr@demo.example", "/tours/", "Hanna"),
    ],
)
def test_demo_account_lands_on_its_start_page(client, demo, login, email, expected_path, expected_text):
    response = login(email, DEMO_PASSWORD)
    assert response.headers["Location"] == "/"
    start = client.get("/", follow_redirects=True)
    assert start.request.path == expected_path
    assert expected_text in start.get_data(as_text=True)


def test_login_page_is_german_by_default_and_english_on_request(client):
    german = client.get("/login").get_data(as_text=True)
    assert '<html lang="de">' in german
    assert "Anmelden" in german
    english = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in english
    assert "Sign in to Tourbook" in english
    switched = client.get("/login?lang=en").get_data(as_text=True)
    assert "Sign in to Tourbook" in switched
    # the switch is remembered
    assert "Sign in to Tourbook" in client.get("/login").get_data(as_text=True)


def test_health_check_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}
