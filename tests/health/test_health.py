def test_health_reports_database_and_broker(client, db):
    body = client.get("/health").json()
    for name in ("database", "broker"):
        check = body["checks"][name]
        assert check["status"] == "healthy"
        assert check["message"]
        assert check["duration_ms"] >= 0


def test_live_is_200(client):
    assert client.get("/health/live").json() == {"status": "alive"}


def test_ready_is_200_when_dependencies_answer(client, db):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"database", "broker"}


def test_ready_is_503_when_the_broker_is_unreachable(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["broker"]["status"] == "unhealthy"


def test_ready_is_503_when_the_database_is_unreachable(client, db, monkeypatch):
    from django.db.utils import OperationalError

    from apps.health import checks

    class Unreachable:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(checks, "connection", Unreachable())
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "unhealthy"
