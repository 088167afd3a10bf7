"""Every admin page an operator can open renders (no 500s), for every registered model."""

import pytest
from django.contrib import admin
from django.test import Client


def _registered():
    return sorted((model._meta.app_label, model._meta.model_name) for model in admin.site._registry)


@pytest.mark.parametrize(("app_label", "model_name"), _registered())
def test_changelist_renders(operator, app_label, model_name):
    response = operator.get(f"/admin/{app_label}/{model_name}/")
    assert response.status_code == 200


@pytest.mark.parametrize(("app_label", "model_name"), _registered())
def test_changelist_search_renders(operator, app_label, model_name):
    response = operator.get(f"/admin/{app_label}/{model_name}/?q=x%27%22%3C")
    assert response.status_code == 200


def test_admin_login_page_renders(client):
    assert client.get("/admin/login/").status_code == 200


def test_admin_requires_login(client, db):
    response = client.get("/admin/configs/config/")
    assert response.status_code == 302


def test_api_key_created_in_admin_is_shown_once_and_works(operator):
    from apps.accounts.models import ApiKey

    response = operator.post(
        "/admin/accounts/apikey/add/", {"name": "from-admin", "role": "viewer"}, follow=True
    )
    assert response.status_code == 200
    message = next(str(m) for m in response.context["messages"] if "cai_" in str(m))
    raw_key = message.rsplit(" ", 1)[-1]
    assert ApiKey.objects.get(name="from-admin").key_hash != raw_key
    api = Client()
    assert api.get("/deployments", HTTP_X_API_KEY=raw_key).status_code == 200


def test_config_created_in_admin_is_compiled(operator):
    from apps.configs.models import Config

    operator.post("/admin/configs/config/add/", {"name": "a", "content": "x = 1"})
    config = Config.objects.get(name="a")
    assert config.validation_errors == ["1:1: ScopeError: undefined variable 'x'"]


def test_deployment_with_a_running_execution_cannot_be_deleted_in_the_admin(operator):
    from apps.deployments.models import Deployment, Execution

    deployment = Deployment.objects.create(name="busy")
    Execution.objects.create(
        deployment=deployment,
        deployment_ref=deployment.id,
        status="running",
        started_at="2024-01-15T10:40:00Z",
    )
    response = operator.post(
        f"/admin/deployments/deployment/{deployment.id}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert Deployment.objects.filter(pk=deployment.pk).exists()


def test_an_admin_page_while_the_database_is_unreachable_is_a_503(operator, database_down):
    response = operator.get("/admin/jobs/job/")
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.content == (
        b"Service unavailable: the database is not reachable; retry shortly.\n"
    )
