"""Configs through HTTP: stored whatever their validity, compiled on every write."""

import uuid

import pytest

from apps.configs.models import Config

REFERENCE_EXAMPLE = 'workflow MyWorkflow {\n  step1: Agent("gpt-4")\n}'


def _create(api, name="my-config", content=REFERENCE_EXAMPLE):
    return api.post("/configs", {"name": name, "content": content}, format="json")


def test_create_returns_the_config_with_its_ast(editor):
    response = _create(editor)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "content",
        "ast_json",
        "validation_errors",
        "created_at",
        "updated_at",
    }
    uuid.UUID(body["id"])
    assert body["name"] == "my-config"
    assert body["content"] == REFERENCE_EXAMPLE
    assert body["validation_errors"] is None
    assert body["ast_json"]["Kind"] == "Program"
    assert body["ast_json"]["Statements"][0]["Kind"] == "WorkflowDecl"


def test_create_stores_content_with_a_parse_error(editor):
    body = _create(editor, content="var x = ").json()
    assert body["ast_json"] is None
    assert len(body["validation_errors"]) == 1
    assert body["validation_errors"][0].startswith('1:9: unexpected token "<EOF>"')


def test_create_stores_content_with_validation_errors(editor):
    body = _create(editor, content="x = 1").json()
    assert body["ast_json"]["Kind"] == "Program"
    assert body["validation_errors"] == ["1:1: ScopeError: undefined variable 'x'"]


def test_create_accepts_empty_content(editor):
    response = _create(editor, content="")
    assert response.status_code == 201
    assert response.json()["validation_errors"] is None


def test_create_requires_name_and_content(editor):
    response = editor.post("/configs", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": "validation failed",
        "details": {"name": "is required", "content": "is required"},
    }


def test_create_rejects_name_over_255_characters(editor):
    assert _create(editor, name="n" * 256).json()["details"] == {
        "name": "must be at most 255 characters"
    }


def test_create_rejects_non_string_content(editor):
    response = editor.post("/configs", {"name": "a", "content": 42}, format="json")
    assert response.json()["details"] == {"content": "must be a string"}


def test_get_returns_the_config(viewer, editor):
    created = _create(editor).json()
    assert viewer.get(f"/configs/{created['id']}").json() == created


def test_get_unknown_is_404(viewer):
    response = viewer.get(f"/configs/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json() == {"error": "config not found", "details": {}}


def test_list_has_total(viewer, editor):
    _create(editor, name="a")
    _create(editor, name="b")
    body = viewer.get("/configs").json()
    assert body["total"] == 2
    assert [c["name"] for c in body["data"]] == ["b", "a"]


def test_put_recompiles_new_content(editor):
    created = _create(editor).json()
    response = editor.put(f"/configs/{created['id']}", {"content": "x = 1"}, format="json")
    assert response.status_code == 200
    assert response.json()["validation_errors"] == ["1:1: ScopeError: undefined variable 'x'"]


def test_put_name_only_keeps_content(editor):
    created = _create(editor).json()
    body = editor.put(f"/configs/{created['id']}", {"name": "renamed"}, format="json").json()
    assert (body["name"], body["content"]) == ("renamed", REFERENCE_EXAMPLE)


def test_delete_is_204(editor):
    created = _create(editor).json()
    assert editor.delete(f"/configs/{created['id']}").status_code == 204
    assert editor.get(f"/configs/{created['id']}").status_code == 404


def test_delete_of_a_config_used_by_a_deployment_is_409(editor):
    created = _create(editor).json()
    editor.post("/deployments", {"name": "d", "config_id": created["id"]}, format="json")
    response = editor.delete(f"/configs/{created['id']}")
    assert response.status_code == 409
    assert response.json() == {
        "error": "config is used by deployments",
        "details": {"deployments": ["d"]},
    }


def test_validate_stored_content_that_is_valid(editor):
    created = _create(editor).json()
    response = editor.post(f"/configs/{created['id']}/validate")
    assert response.status_code == 200
    assert response.json() == {"valid": True, "errors": [], "diagnostics": []}


def test_validate_given_content_with_a_parse_error(editor):
    created = _create(editor).json()
    response = editor.post(
        f"/configs/{created['id']}/validate", {"content": "if x {"}, format="json"
    )
    body = response.json()
    assert body["valid"] is False
    assert [e.split(" (expected")[0] for e in body["errors"]] == [
        'parse error: 1:7: unexpected token "<EOF>"'
    ]
    [diagnostic] = body["diagnostics"]
    assert (diagnostic["line"], diagnostic["column"], diagnostic["kind"]) == (1, 7, "SyntaxError")
    assert diagnostic["message"].startswith('unexpected token "<EOF>"')


def test_validate_given_content_with_validation_errors(editor):
    created = _create(editor).json()
    body = editor.post(
        f"/configs/{created['id']}/validate", {"content": "var y = f(1)"}, format="json"
    ).json()
    assert body["valid"] is False
    assert body["errors"] == ["validation error: 1:9: FunctionError: undefined function 'f'"]
    assert body["diagnostics"] == [
        {"line": 1, "column": 9, "kind": "FunctionError", "message": "undefined function 'f'"}
    ]


def test_validate_does_not_change_the_stored_config(editor):
    created = _create(editor).json()
    editor.post(f"/configs/{created['id']}/validate", {"content": "x = 1"}, format="json")
    assert Config.objects.get(pk=created["id"]).content == REFERENCE_EXAMPLE


def test_viewer_cannot_create(viewer):
    assert _create(viewer).status_code == 403


@pytest.mark.parametrize("path", ["/configs/nope", "/configs/nope/validate"])
def test_malformed_id_is_404(editor, path):
    assert editor.post(path).status_code in (404, 405)
    assert editor.get("/configs/nope").status_code == 404


API_PROGRAM = """config { name: "orders" version: "2.1.0" }
database postgres {
  model Order {
    id: uuid, primary, auto
    total: decimal, required
  }
}
endpoint GET "/orders/:id" { response Order status 200 }
"""


def test_openapi_returns_the_generated_document(editor):
    created = _create(editor, content=API_PROGRAM).json()
    response = editor.get(f"/configs/{created['id']}/openapi")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.0")
    assert (document["info"]["title"], document["info"]["version"]) == ("orders", "2.1.0")
    assert document["paths"]["/orders/{id}"]["get"]["operationId"] == "getOrdersById"
    assert "Order" in document["components"]["schemas"]


def test_openapi_as_yaml(editor):
    import yaml

    created = _create(editor, content=API_PROGRAM).json()
    response = editor.get(f"/configs/{created['id']}/openapi?format=yaml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(response.content)["info"]["title"] == "orders"


def test_openapi_rejects_unknown_format(editor):
    created = _create(editor, content=API_PROGRAM).json()
    response = editor.get(f"/configs/{created['id']}/openapi?format=xml")
    assert response.status_code == 400
    assert response.json()["details"] == {"format": "must be one of: json yaml"}


def test_openapi_of_an_invalid_config_is_409(editor):
    created = _create(editor, content="x = 1").json()
    response = editor.get(f"/configs/{created['id']}/openapi")
    assert response.status_code == 409
    assert response.json() == {
        "error": "config is not valid",
        "details": {"validation_errors": ["1:1: ScopeError: undefined variable 'x'"]},
    }
