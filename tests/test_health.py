from django.urls import reverse


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_reversible():
    assert reverse("polyflow:healthz") == "/healthz"


def test_healthz_refuses_writes(client):
    assert client.post("/healthz").status_code == 405
