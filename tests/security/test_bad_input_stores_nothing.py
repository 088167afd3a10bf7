"""A refused write stores nothing, not even half of it (issue #8, item 4).

Every write operation of the published schema (POST, PUT, DELETE) is sent bad input against real
objects: malformed JSON, non-object bodies, unknown fields, wrong types, huge strings, deep nesting,
NUL characters, unicode the field cannot hold, lone surrogates, oversized and form-encoded bodies,
hostile ids, and state conflicts. Each variant is one field away from a body the operation accepts
(`test_the_valid_body_of_each_write_is_accepted` keeps that true). After each 4xx every row of
every model is compared with the rows before it, and the object a PUT targets field by field.
"""

import hashlib
import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from django.apps import apps as django_apps
from django.forms.models import model_to_dict
from rest_framework.test import APIClient

from ..conftest import bearer
from .test_auth_matrix import PROTECTED
from .test_bad_input import HOSTILE_IDS

WRITES = [op for op in PROTECTED if op[0] in ("POST", "PUT", "DELETE")]

# One accepted body per operation that reads a body; each bad variant changes one thing in it.
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/configs"): {"name": "new-config", "content": "var y = 1\nprint(y)"},
    ("PUT", "/configs/{id}"): {"name": "renamed-config", "content": "var x = 2\nprint(x)"},
    ("POST", "/configs/{id}/validate"): {"content": "var z = 1"},
    ("POST", "/deployments"): {"name": "new-deployment", "config_id": "{config}"},
    ("PUT", "/deployments/{id}"): {
        "name": "renamed-deployment",
        "config_id": "{config}",
        "status": "stopped",
    },
    ("POST", "/deployments/{id}/execute"): {"variables": {"x": "2"}},
    ("POST", "/jobs"): {
        "task_type": "echo",
        "payload": {"a": "b"},
        "queue": "default",
        "max_retries": 1,
        "timeout": "30s",
        "metadata": {"team": "a"},
    },
    ("POST", "/jobs/schedule"): {
        "task_type": "echo",
        "payload": {"a": "b"},
        "queue": "default",
        "max_retries": 1,
        "timeout": "30s",
        "metadata": {"team": "a"},
        "schedule_at": "2099-01-01T00:00:00Z",
    },
    ("POST", "/jobs/recurring"): {
        "task_type": "echo",
        "payload": {"a": "b"},
        "queue": "default",
        "max_retries": 1,
        "timeout": "30s",
        "metadata": {"team": "a"},
        "cron_spec": "*/5 * * * *",
        "timezone": "UTC",
    },
    ("POST", "/webhooks"): {
        "url": "http://127.0.0.1:9/new",
        "events": ["job.failed"],
        "secret": "new-secret-123",
        "headers": {"X-Team": "a"},
        "metadata": {"team": "a"},
    },
    ("PUT", "/webhooks/{id}"): {
        "url": "http://127.0.0.1:9/changed",
        "events": ["job.failed"],
        "secret": "rotated-secret-123",
        "headers": {"X-Team": "b"},
        "metadata": {"team": "b"},
        "active": False,
    },
    ("POST", "/workflows"): {
        "workflowId": "new-workflow",
        "workflowType": "ai-pipeline",
        "input": {"model": "echo", "prompt": "hi"},
        "metadata": {"team": "a"},
    },
    ("POST", "/workflows/{id}/cancel"): {"reason": "stop"},
}
# Operations that read no body: their bad input is the id in the path.
NO_BODY = {
    ("POST", "/webhooks/{id}/test"),
    ("POST", "/webhooks/deliveries/{id}/retry"),
    ("DELETE", "/configs/{id}"),
    ("DELETE", "/deployments/{id}"),
    ("DELETE", "/jobs/{id}"),
    ("DELETE", "/webhooks/{id}"),
}
BODY_WRITES = sorted(VALID_BODIES)
PATH_WRITES = [op for op in WRITES if "{" in op[1]]

ANY_JSON = {"payload"}  # any JSON value is a valid payload (the handler decides)
UNBOUNDED = {"content"}  # a program has no length limit but the body's
FREE_TEXT = {"name", "content", "reason", "workflowId", "secret"}  # any unicode is fine here

# Known product bugs, reported with issue #8: the tests stay, expected to fail until fixed.


# --- the database, row by row --------------------------------------------------------------------


def _rows(model) -> list[tuple]:
    names = [field.attname for field in model._meta.concrete_fields]
    return list(model._base_manager.order_by("pk").values_list(*names))


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every model (apps.*, django_celery_beat, auth, admin…)."""
    return {model._meta.label: _rows(model) for model in django_apps.get_models()}


def digest(state: dict[str, list[tuple]]) -> str:
    return hashlib.sha256(repr(sorted(state.items())).encode()).hexdigest()


def assert_same(before: dict[str, list[tuple]], context: str) -> None:
    after = snapshot()
    if digest(after) == digest(before):
        return
    changes = []
    for label in sorted(before):
        old, new = set(before[label]), set(after[label])
        if old != new:
            added, removed = list(new - old)[:3], list(old - new)[:3]
            changes.append(
                f"{label}: {len(before[label])} -> {len(after[label])} rows; "
                f"added {added!r}; removed or changed {removed!r}"
            )
    pytest.fail(f"{context} changed the database:\n" + "\n".join(changes))


# --- objects to write to -------------------------------------------------------------------------


@pytest.fixture
def world(db, settings):
    """One real object per resource, so every path resolves and every body is read."""
    from apps.configs.services import config_create
    from apps.deployments.services import deployment_create
    from apps.events.services import emit
    from apps.jobs.services import job_create
    from apps.webhooks.models import Delivery
    from apps.webhooks.services import webhook_create
    from apps.workflows.services import workflow_start

    settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS = True
    webhook, _ = webhook_create(url="http://127.0.0.1:9/hook", secret="world-secret-1")
    config = config_create(name="config", content="var x = 1\nprint(x)")
    assert config.is_valid, config.validation_errors
    other_config = config_create(name="other", content="")
    deployment = deployment_create(name="deployment", config_id=config.id)
    deployment_create(name="taken", config_id=None)
    job = job_create(task_type="echo", payload={"a": 1})
    workflow_start(
        workflow_id="workflow", workflow_type="ai-pipeline", input={"model": "echo", "prompt": "hi"}
    )
    event = emit(type="job.failed", source="test", data={})
    delivery = Delivery.objects.get(event_ref=event.id)
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", next_retry_at=None)
    return {
        "/configs/": str(config.id),
        "/deployments/": str(deployment.id),
        "/jobs/": job.id,
        "/webhooks/deliveries/": delivery.id,
        "/webhooks/": webhook.id,
        "/workflows/": "workflow",
        "{config}": str(config.id),
        "other config": str(other_config.id),
    }


def url_of(world: dict, path: str, pk: str | None = None) -> str:
    if "{" not in path:
        return path
    if pk is None:
        pk = next(value for prefix, value in world.items() if path.startswith(prefix))
    return re.sub(r"\{[^}]+\}", quote(pk, safe=""), path)


def body_of(world: dict, op: tuple[str, str]) -> dict[str, Any]:
    return json.loads(json.dumps(VALID_BODIES[op]).replace('"{config}"', f'"{world["{config}"]}"'))


def target_of(world: dict, op: tuple[str, str]):
    """The model instance a PUT changes."""
    from apps.configs.models import Config
    from apps.deployments.models import Deployment
    from apps.webhooks.models import Webhook

    models = {"/configs/": Config, "/deployments/": Deployment, "/webhooks/": Webhook}
    prefix = next(p for p in models if op[1].startswith(p))
    return models[prefix].objects.get(pk=world[prefix])


def fields_of(instance) -> dict[str, Any]:
    fields = [field.name for field in instance._meta.concrete_fields]
    return {**model_to_dict(instance, fields=fields), "updated_at": instance.updated_at}


@pytest.fixture
def api(db) -> APIClient:
    api = APIClient(raise_request_exception=False)  # a 500 is an answer to assert on
    api.credentials(**bearer("admin"))
    return api


class Sender:
    """Sends bad requests for one operation; each must be a 4xx that stores nothing."""

    def __init__(self, api: APIClient, world: dict, op: tuple[str, str]):
        self.api, self.world, self.op = api, world, op
        self.before = snapshot()
        self.target = fields_of(target_of(world, op)) if op[0] == "PUT" else None
        self.sent = 0

    def raw(self, body: str | bytes, *, content_type="application/json", url=None, expect=None):
        method, path = self.op
        url = url or url_of(self.world, path)
        response = getattr(self.api, method.lower())(url, body, content_type=content_type)
        shown = body[:120] if isinstance(body, str | bytes) else body
        context = f"{method} {url} with {shown!r} -> {response.status_code}"
        assert 400 <= response.status_code < 500, f"{context}: {response.content[:300]!r}"
        if expect is not None:
            assert response.status_code == expect, f"{context}: {response.content[:300]!r}"
        assert_same(self.before, context)
        if self.target is not None:
            now = fields_of(target_of(self.world, self.op))
            assert now == self.target, f"{context} changed the object it targets"
        self.sent += 1
        return response

    def json(self, body: Any, **kwargs):
        # ASCII escapes, so lone surrogates travel as the client wrote them.
        return self.raw(json.dumps(body), **kwargs)

    def field(self, name: str, value: Any, **kwargs):
        return self.json({**body_of(self.world, self.op), name: value}, **kwargs)


# --- the valid bodies are valid ------------------------------------------------------------------


def test_every_write_operation_is_covered():
    assert set(VALID_BODIES) | NO_BODY == set(WRITES)


@pytest.mark.parametrize("op", BODY_WRITES, ids=" ".join)
def test_the_valid_body_of_each_write_is_accepted(api, world, op):
    method, path = op
    response = getattr(api, method.lower())(url_of(world, path), body_of(world, op), format="json")
    assert 200 <= response.status_code < 300, response.content[:300]


# --- malformed bodies ----------------------------------------------------------------------------

MALFORMED = [
    '{"a": ',
    '{"name": "x",}',
    "{'name': 'x'}",
    '{"a": NaN}',
    '{"a": -Infinity}',
    '{"a": 1}{"b": 2}',
    '\ufeff{"a": 1}',
    b'{"name": "\xff\xfe"}',
    "{" * 10 + "}" * 9,
]


@pytest.mark.parametrize("op", BODY_WRITES, ids=" ".join)
def test_malformed_json_stores_nothing(api, world, op):
    sender = Sender(api, world, op)
    for body in [*MALFORMED, json.dumps(body_of(world, op))[:-1]]:
        sender.raw(body, expect=400)


@pytest.mark.parametrize("op", BODY_WRITES, ids=" ".join)
def test_a_body_that_is_not_an_object_stores_nothing(api, world, op):
    sender = Sender(api, world, op)
    for body in ("[1, 2, 3]", "[]", '"text"', "null", "12", "true"):
        sender.raw(body, expect=400)


@pytest.mark.parametrize("op", BODY_WRITES, ids=" ".join)
def test_an_unknown_field_stores_nothing(api, world, op):
    Sender(api, world, op).field("nmae", "x", expect=400)


@pytest.mark.parametrize("op", BODY_WRITES, ids=" ".join)
def test_a_form_encoded_body_stores_nothing(api, world, op):
    Sender(api, world, op).raw("name=x", content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("op", BODY_WRITES, ids=" ".join)
def test_a_body_over_one_mebibyte_stores_nothing(api, world, op):
    Sender(api, world, op).field("name", "x" * (1024 * 1024 + 1), expect=413)


# --- one bad field in an otherwise valid body ----------------------------------------------------


def _wrong_types(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["false", 0, 1.5]
    if isinstance(value, int):
        return ["1", 1.5, True, [1]]
    if isinstance(value, str):
        return [12345, True, ["x"], {"x": 1}]
    if isinstance(value, dict):
        return ["x", 12345, ["x"], True]
    if isinstance(value, list):
        return ["job.failed", {"a": 1}, 12345]
    raise AssertionError(value)


@pytest.mark.parametrize("op", BODY_WRITES, ids=" ".join)
def test_a_wrong_type_in_any_field_stores_nothing(api, world, op):
    sender = Sender(api, world, op)
    for name, value in body_of(world, op).items():
        if name not in ANY_JSON:
            for wrong in _wrong_types(value):
                sender.field(name, wrong, expect=400)


@pytest.mark.parametrize("op", BODY_WRITES, ids=" ".join)
def test_a_huge_string_in_any_field_stores_nothing(api, world, op):
    sender = Sender(api, world, op)
    for name, value in body_of(world, op).items():
        if isinstance(value, str) and name not in UNBOUNDED:
            sender.field(name, "x" * 70_000, expect=400)


@pytest.mark.parametrize("op", BODY_WRITES, ids=" ".join)
def test_a_nul_character_in_any_string_field_stores_nothing(api, world, op):
    sender = Sender(api, world, op)
    for name, value in body_of(world, op).items():
        if isinstance(value, str):
            for bad in (value + "\x00", "\x00" + value, "a\x00b"):
                sender.field(name, bad, expect=400)


@pytest.mark.parametrize("op", BODY_WRITES, ids=" ".join)
def test_a_lone_surrogate_in_any_string_field_stores_nothing(api, world, op):
    sender = Sender(api, world, op)
    for name, value in body_of(world, op).items():
        if isinstance(value, str):
            for bad in (value + "\ud800", "\udfff" + value, "\udc00\ud800"):
                sender.field(name, bad, expect=400)


@pytest.mark.parametrize("op", BODY_WRITES, ids=" ".join)
def test_unicode_a_field_cannot_hold_stores_nothing(api, world, op):
    """Identifiers, URLs, enums, durations, timestamps and cron specs are ASCII."""
    sender = Sender(api, world, op)
    for name, value in body_of(world, op).items():
        if isinstance(value, str) and name not in FREE_TEXT:
            bad_values = {"é🚀"}
            if name != "url":  # a URL's path may hold any unicode (an IRI)
                bad_values |= {value + "\u202e", value.replace("e", "е")}  # Cyrillic е
            for bad in sorted(bad_values - {value}):
                sender.field(name, bad, expect=400)


def _with_text(value: Any, bad: str) -> Any:
    """`value` with `bad` appended to every string in it (keys left alone)."""
    if isinstance(value, dict):
        return {key: _with_text(item, bad) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_text(item, bad) for item in value]
    return value + bad if isinstance(value, str) else value


JSON_FIELD_WRITES = [
    op for op in BODY_WRITES if any(isinstance(v, dict) for v in VALID_BODIES[op].values())
]
JSON_FIELD_CASES = [pytest.param(op, id=" ".join(op)) for op in JSON_FIELD_WRITES]


@pytest.mark.parametrize("op", JSON_FIELD_CASES)
def test_a_nul_character_inside_a_json_field_stores_nothing(api, world, op):
    sender = Sender(api, world, op)
    for name, value in body_of(world, op).items():
        if isinstance(value, dict):
            sender.field(name, _with_text(value, "\x00"), expect=400)


@pytest.mark.parametrize("op", JSON_FIELD_CASES)
def test_a_lone_surrogate_inside_a_json_field_stores_nothing(api, world, op):
    sender = Sender(api, world, op)
    for name, value in body_of(world, op).items():
        if isinstance(value, dict):
            sender.field(name, _with_text(value, "\ud800"), expect=400)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("op", BODY_WRITES, ids=" ".join)
def test_pathological_nesting_stores_nothing(api, world, op):
    sender = Sender(api, world, op)
    names = [*body_of(world, op), "nested"]
    for name in names:
        body = json.dumps({**body_of(world, op), name: "@"}).replace('"@"', _nested(50_000))
        sender.raw(body, expect=400)


@pytest.mark.parametrize("op", JSON_FIELD_CASES)
def test_nesting_near_the_recursion_limit_is_never_a_500(api, world, op):
    """Depths around Python's recursion limit: accepted whole, or a 4xx that stores nothing."""
    method, path = op
    fields = body_of(world, op)
    name = "metadata" if "metadata" in fields else next(n for n in fields if n != "headers")
    for depth in range(860, 960, 3):
        before = snapshot()
        body = json.dumps({**fields, name: {"deep": "@"}})
        body = body.replace('"@"', _nested(depth))
        if method == "POST" and "workflowId" in body:
            body = body.replace('"new-workflow"', f'"deep-{depth}"')
        response = getattr(api, method.lower())(
            url_of(world, path), body, content_type="application/json"
        )
        context = f"{method} {path} nested {depth} deep -> {response.status_code}"
        assert response.status_code < 500, context
        if response.status_code >= 400:
            assert_same(before, context)


# --- ids and conflicts ---------------------------------------------------------------------------


def foreign_ids(world: dict, path: str) -> list[str]:
    """Real ids of another resource, in the same format where there is one."""
    if path.startswith("/configs/"):
        return [world["/deployments/"], world["/jobs/"]]
    if path.startswith("/deployments/"):
        return [world["{config}"], world["/jobs/"]]
    if path.startswith("/webhooks/deliveries/"):
        return [world["/webhooks/"], world["/jobs/"]]
    if path.startswith("/webhooks/"):
        return [world["/webhooks/deliveries/"], world["/jobs/"]]
    return [world["/webhooks/"], world["{config}"]]


@pytest.mark.parametrize("op", PATH_WRITES, ids=" ".join)
def test_a_hostile_or_foreign_id_stores_nothing(api, world, op):
    sender = Sender(api, world, op)
    body = json.dumps(body_of(world, op)) if op in VALID_BODIES else ""
    for pk in [*HOSTILE_IDS, *foreign_ids(world, op[1])]:
        sender.raw(body, url=url_of(world, op[1], pk), expect=404)


CONFLICTS = {
    "a duplicate deployment name": ("POST", "/deployments", {"name": "taken"}, 409),
    "a rename to a taken name with other changes": (
        "PUT",
        "/deployments/{id}",
        {"name": "taken", "status": "stopped", "config_id": None},
        409,
    ),
    "an unknown config in a deployment update": (
        "PUT",
        "/deployments/{id}",
        {
            "name": "renamed",
            "status": "stopped",
            "config_id": "00000000-0000-0000-0000-000000000000",
        },
        400,
    ),
    "an undeclared variable": (
        "POST",
        "/deployments/{id}/execute",
        {"variables": {"nope": 1}},
        400,
    ),
    "a workflowId that is running": (
        "POST",
        "/workflows",
        {
            "workflowId": "workflow",
            "workflowType": "ai-pipeline",
            "input": {"model": "echo", "prompt": "x"},
        },
        409,
    ),
    "a workflow with a bad input": (
        "POST",
        "/workflows",
        {"workflowId": "w2", "workflowType": "ai-pipeline", "input": {"agents": [{"name": 1}]}},
        400,
    ),
    "a config a deployment uses": ("DELETE", "/configs/{id}", None, 409),
    "a private webhook target with other changes": (
        "PUT",
        "/webhooks/{id}",
        {
            "url": "http://10.0.0.1/x",
            "events": ["job.failed"],
            "secret": "rotated-123",
            "active": False,
        },
        400,
    ),
    "a recurring job with a bad timezone": (
        "POST",
        "/jobs/recurring",
        {"task_type": "echo", "cron_spec": "* * * * *", "timezone": "Mars/Olympus"},
        400,
    ),
}


@pytest.mark.parametrize("case", sorted(CONFLICTS))
def test_a_refused_state_change_stores_nothing(api, world, settings, case):
    method, path, body, status = CONFLICTS[case]
    settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS = False
    sender = Sender(api, world, (method, path))
    sender.raw(json.dumps(body) if body is not None else "", expect=status)


@pytest.mark.parametrize(
    "case",
    ["a finished job", "a canceled workflow", "a succeeded delivery", "a running deployment"],
)
def test_acting_on_a_finished_object_stores_nothing(api, world, case):
    from apps.deployments.models import Deployment
    from apps.jobs.models import Job
    from apps.webhooks.models import Delivery

    if case == "a finished job":
        Job.objects.filter(pk=world["/jobs/"]).update(status="completed")
        op, body, status = ("DELETE", "/jobs/{id}"), "", 409
    elif case == "a canceled workflow":
        assert api.post("/workflows/workflow/cancel", {}, format="json").status_code == 200
        op, body, status = ("POST", "/workflows/{id}/cancel"), '{"reason": "again"}', 409
    elif case == "a succeeded delivery":
        Delivery.objects.filter(pk=world["/webhooks/deliveries/"]).update(status="succeeded")
        op, body, status = ("POST", "/webhooks/deliveries/{id}/retry"), "", 409
    else:
        assert api.post(url_of(world, "/deployments/{id}/execute"), {}, format="json").status_code
        assert Deployment.objects.get(pk=world["/deployments/"]).status == "running"
        op, body, status = ("POST", "/deployments/{id}/execute"), "{}", 409
    Sender(api, world, op).raw(body, expect=status)
