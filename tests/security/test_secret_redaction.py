"""Secrets never appear in any response, log line or admin page after creation (issue #8, item 3).

Secrets: webhook secrets (generated `whsec_…`, or given), API keys, JWTs and their signing key,
`CODEAI_LLM_API_KEY`, `CODEAI_METRICS_TOKEN`, and a password in the broker URL. Each is created
through the interface that makes it, used, and then searched for, also in pieces (any 16
characters of it), in every GET answer of the API, every log record of every logger at DEBUG
(and the JSON line the configured handler would write for it) and every admin page.

Custom webhook `headers` are not write-only: the reference returns them in the webhook object
(reads are admin-only because "URLs and headers can carry credentials", docs/webhooks.md), so
GET /webhooks, GET /webhooks/{id} and the admin's webhook form show them to admins. A credential in
them must reach the receiver and appear nowhere else: no log line, no event, no delivery record,
no other admin page. The same goes for credentials in an `http.request` job's payload headers,
which GET /jobs/{id} returns as submitted (the reference's job object) but nothing else repeats.
"""

import json
import logging
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta
from io import StringIO
from urllib.parse import quote

import jwt
import pytest
from django.contrib import admin as django_admin
from django.contrib.admin.utils import quote as admin_quote
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient
from werkzeug import Response

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create, api_key_revoke
from apps.webhooks.models import Delivery, Webhook
from apps.webhooks.services import delivery_attempt
from apps.webhooks.signing import signature
from codeai.api.logging import JSONFormatter
from tests.waiting import wait_for

from ..conftest import _client_with, bearer
from .test_auth_matrix import OPERATIONS
from .test_bad_input import _query_names

FRAGMENT = 16  # any run of this many characters of a secret counts as a leak

# --- finding secrets -----------------------------------------------------------------------------


def _pattern(needles: Iterable[str]) -> re.Pattern:
    pieces = set()
    for needle in needles:
        assert len(needle) >= FRAGMENT, f"test secrets must be long and random: {needle!r}"
        pieces.update(needle[i : i + FRAGMENT] for i in range(len(needle) - FRAGMENT + 1))
    return re.compile("|".join(re.escape(piece) for piece in sorted(pieces)))


def _leaks(texts: Iterable[tuple[str, str]], needles: Iterable[str]) -> list[str]:
    """`where: …context…` for every text holding a piece of a needle."""
    pattern = _pattern(needles)
    found = []
    for where, text in texts:
        match = pattern.search(text)
        if match:
            start = max(0, match.start() - 80)
            found.append(f"{where}: …{text[start : match.end() + 80]}…")
    return found


def assert_nowhere(texts: Iterable[tuple[str, str]], *needles: str) -> None:
    leaks = _leaks(texts, needles)
    assert not leaks, "secret found in:\n" + "\n".join(leaks[:10])


def key_secret(raw_key: str) -> str:
    """An API key without its public `cai_<prefix>_` (stored in clear and shown by design)."""
    return raw_key.split("_", 2)[2]


def jwt_signature(token: str) -> str:
    """A JWT's own secret part: its header and (often) claims are the same for every token."""
    return token.rsplit(".", 1)[-1]


# --- every log record ----------------------------------------------------------------------------


class LogTap(logging.Handler):
    """Every record, and the JSON line the configured handler (settings.LOGGING) would write."""

    def __init__(self, configured: logging.Handler):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(configured.formatter)
        for log_filter in configured.filters:
            self.addFilter(log_filter)
        self.entries: list[tuple[logging.LogRecord, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception as exc:  # a record the formatter cannot write is a finding too
            line = f"<unformattable: {exc!r}>"
        self.entries.append((record, line))

    def texts(self) -> list[tuple[str, str]]:
        texts = []
        for record, line in self.entries:
            exc = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
            parts = [line, record.getMessage(), repr(record.msg), repr(record.args)]
            parts += [repr(vars(record)), exc, record.stack_info or ""]
            texts.append((f"log {record.name} {record.levelname}", "\n".join(parts)))
        return texts

    def assert_clean(self, *needles: str) -> None:
        assert self.entries, "no log record captured: the tap is not attached"
        assert_nowhere(self.texts(), *needles)

    def assert_heard_the_worker(self) -> None:
        """DEBUG records from a worker thread arrived (so its logging was not turned down)."""
        assert any(
            record.levelno == logging.DEBUG and record.threadName != "MainThread"
            for record, _ in self.entries
        ), "no DEBUG record from a worker thread: is the root logger still at DEBUG?"


@pytest.fixture
def logs(caplog):
    """Every logger at DEBUG, enabled and propagating to the root, where the tap listens.

    Starting a Celery worker sets the root logger to the worker's level: tests with a worker
    ask for `live_worker` before `logs`.
    """
    caplog.set_level(logging.DEBUG)
    root = logging.getLogger()
    configured = [h for h in root.handlers if isinstance(h.formatter, JSONFormatter)]
    assert configured, "the JSON handler of settings.LOGGING is not installed"
    tap = LogTap(configured[0])
    loggers = [root] + [
        logger for logger in root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled, logger.propagate) for logger in loggers]
    for logger in loggers:
        if logger.level > logging.DEBUG:
            logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if logger is not root:
            logger.propagate = True
    root.addHandler(tap)
    yield tap
    root.removeHandler(tap)
    for logger, level, disabled, propagate in saved:
        logger.setLevel(level)
        logger.disabled = disabled
        logger.propagate = propagate


# --- every GET answer of the API -----------------------------------------------------------------


def _ids_for(path: str) -> list[str]:
    from apps.configs.models import Config
    from apps.deployments.models import Deployment, Execution
    from apps.events.models import Event
    from apps.jobs.models import Job
    from apps.workflows.models import WorkflowRun

    sources = {
        "/configs/": Config.objects.values_list("pk", flat=True),
        "/deployments/": Deployment.objects.values_list("pk", flat=True),
        "/events/": Event.objects.values_list("pk", flat=True),
        "/executions/": Execution.objects.values_list("pk", flat=True),
        "/jobs/": Job.objects.values_list("pk", flat=True),
        "/webhooks/": Webhook.objects.values_list("pk", flat=True),
        "/workflows/": WorkflowRun.objects.values_list("workflow_id", flat=True).distinct(),
    }
    for prefix, ids in sources.items():
        if path.startswith(prefix):
            return [str(pk) for pk in ids[:200]]
    raise AssertionError(f"no ids known for {path}: add its resource to _ids_for")


# The health checks hold no stored data (and /health waits for a worker ping): tested apart.
GET_PATHS = sorted(
    path for method, path in OPERATIONS if method == "GET" and not path.startswith("/health")
)


def api_texts(api: APIClient, *, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """The body of every GET operation of the schema, for every existing object."""
    texts = []
    for path in GET_PATHS:
        if path in skip:
            continue
        if "{" in path:
            urls = [re.sub(r"\{[^}]+\}", quote(pk, safe=""), path) for pk in _ids_for(path)]
        else:
            urls = [path + ("?limit=100" if "limit" in _query_names(path) else "")]
        for url in urls:
            response = api.get(url)
            assert response.status_code < 500, (url, response.content[:300])
            texts.append((f"GET {url}", response.content.decode()))
    return texts


# --- every admin page ----------------------------------------------------------------------------


def admin_texts(browser: Client, *, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Every changelist, and the change and history page of every object (50 per model)."""
    texts = []
    for model in django_admin.site._registry:
        label = f"{model._meta.app_label}.{model._meta.model_name}"
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        urls = [base]
        if label not in skip:
            for pk in model._default_manager.values_list("pk", flat=True)[:50]:
                urls += [
                    f"{base}{admin_quote(str(pk))}/change/",
                    f"{base}{admin_quote(pk)}/history/",
                ]
        for url in urls:
            response = browser.get(url)
            assert response.status_code == 200, (url, response.status_code)
            texts.append((url, response.content.decode()))
    return texts


# --- clients, settings and a receiver ------------------------------------------------------------


@pytest.fixture
def admin_api(db) -> APIClient:
    return _client_with(bearer("admin"))


@pytest.fixture
def local_targets(settings):
    """Deliveries, jobs and test cases go to pytest-httpserver on 127.0.0.1."""
    settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.CODEAI_JOB_HTTP_ALLOW_PRIVATE_URLS = True
    settings.CODEAI_WORKFLOW_HTTP_ALLOW_PRIVATE_URLS = True
    settings.CODEAI_WEBHOOK_RETRY_SCHEDULE = "0s"
    return settings


def new_secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(16)}"


def generated_like_secret() -> str:
    from apps.webhooks.signing import generate_secret

    return generate_secret()


def create_webhook(api: APIClient, url: str, **fields) -> tuple[str, str]:
    response = api.post("/webhooks", {"url": url, **fields}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    return body["id"], body["secret"]


@pytest.fixture
def receiver(httpserver):
    """/hook answers 200, /broken 500, /gone 410."""
    httpserver.expect_request("/hook").respond_with_data("ok")
    httpserver.expect_request("/broken").respond_with_data("down", status=500)
    httpserver.expect_request("/gone").respond_with_data("gone", status=410)
    return httpserver


@pytest.fixture
def header_credential() -> str:
    return new_secret("hdr")


@pytest.fixture
def webhook_world(admin_api, local_targets, receiver, header_credential):
    """Webhooks with every kind of secret, and deliveries of every outcome, made synchronously.

    Returns the secrets as they are now (after a rotation) and as they were.
    """
    headers = {"Authorization": f"Bearer {header_credential}", "X-Token": header_credential}
    generated_id, generated = create_webhook(
        admin_api, receiver.url_for("/hook"), headers=headers, metadata={"team": "a"}
    )
    plain = new_secret("plain")
    plain_id, _ = create_webhook(admin_api, receiver.url_for("/broken"), secret=plain)
    given = generated_like_secret()
    gone_id, _ = create_webhook(admin_api, receiver.url_for("/gone"), secret=given)
    rotated = new_secret("rotated")
    response = admin_api.put(f"/webhooks/{plain_id}", {"secret": rotated}, format="json")
    assert response.status_code == 200
    for webhook_id in (generated_id, plain_id, gone_id):
        assert admin_api.post(f"/webhooks/{webhook_id}/test").status_code == 200
    # A real event for every webhook; on_commit does not run under `db`, so attempt by hand.
    editor = _client_with(bearer("editor"))
    assert editor.post("/configs", {"name": "c", "content": ""}, format="json").status_code == 201
    for delivery in Delivery.objects.filter(is_test=False, attempts=0):
        delivery_attempt(delivery_id=delivery.id)
    failed = Delivery.objects.get(webhook_id=plain_id, is_test=False, status="failed")
    assert admin_api.post(f"/webhooks/deliveries/{failed.id}/retry").status_code == 200
    delivery_attempt(delivery_id=failed.id)
    assert Delivery.objects.filter(status="succeeded", is_test=False).exists()
    assert not Webhook.objects.get(pk=gone_id).active  # webhook.disabled was emitted
    return {
        "secrets": [generated, plain, given, rotated],
        "header": header_credential,
        "ids": [generated_id, plain_id, gone_id],
    }


# --- webhook secrets -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["generated", "plain", "whsec"])
def test_a_webhook_secret_is_returned_once_then_by_no_get(admin_api, local_targets, kind):
    given = {"generated": None, "plain": new_secret("plain"), "whsec": generated_like_secret()}
    fields = {"secret": given[kind]} if given[kind] else {}
    _, secret = create_webhook(admin_api, "http://127.0.0.1:9/hook", **fields)
    assert secret == (given[kind] or secret) and secret.startswith(("whsec_", "plain-"))
    assert_nowhere(api_texts(admin_api), secret)


def test_a_rotated_secret_is_not_in_the_put_answer(admin_api, local_targets):
    webhook_id, old = create_webhook(admin_api, "http://127.0.0.1:9/hook")
    rotated = new_secret("rotated")
    response = admin_api.put(f"/webhooks/{webhook_id}", {"secret": rotated}, format="json")
    assert response.status_code == 200
    assert_nowhere([("PUT answer", response.content.decode())], rotated, old)
    assert Webhook.objects.get(pk=webhook_id).secret == rotated


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda s: "whsec_" + s + "!", id="not-base64"),
        pytest.param(lambda s: "whsec_" + s.replace("-", "")[:12], id="too-short-key"),
        pytest.param(lambda s: s * 20, id="over-256-characters"),
        pytest.param(lambda s: s + "\x00", id="nul"),
    ],
)
def test_a_refused_secret_is_not_echoed_in_the_400(admin_api, local_targets, bad):
    secret = bad(new_secret("refused"))
    for method, url in (("post", "/webhooks"), ("put", None)):
        if url is None:
            webhook_id, _ = create_webhook(admin_api, "http://127.0.0.1:9/hook")
            url = f"/webhooks/{webhook_id}"
        body = {"url": "http://127.0.0.1:9/hook", "secret": secret}
        response = getattr(admin_api, method)(url, body, format="json")
        assert response.status_code == 400, response.content
        needle = secret.replace("\x00", "")[:40]
        assert_nowhere([(f"{method} {url}", response.content.decode())], needle)


def test_creating_and_rotating_webhook_secrets_logs_none(admin_api, local_targets, logs):
    given = new_secret("plain")
    _, generated = create_webhook(admin_api, "http://127.0.0.1:9/a")
    webhook_id, _ = create_webhook(admin_api, "http://127.0.0.1:9/b", secret=given)
    rotated = new_secret("rotated")
    assert (
        admin_api.put(f"/webhooks/{webhook_id}", {"secret": rotated}, format="json").status_code
        == 200
    )
    logs.assert_clean(generated, given, rotated)


def test_a_test_delivery_carries_a_signature_and_never_the_secret(
    admin_api, local_targets, receiver, header_credential, logs
):
    webhook_id, secret = create_webhook(
        admin_api,
        receiver.url_for("/hook"),
        headers={"Authorization": f"Bearer {header_credential}"},
    )
    response = admin_api.post(f"/webhooks/{webhook_id}/test")
    assert response.status_code == 200 and response.json()["success"] is True
    (request, _), *_ = receiver.log
    body = request.get_data()
    expected = signature(
        secret=secret,
        message_id=request.headers["webhook-id"],
        timestamp=int(request.headers["webhook-timestamp"]),
        body=body,
    )
    assert request.headers["webhook-signature"] == expected
    assert request.headers["Authorization"] == f"Bearer {header_credential}"
    sent = "\n".join(f"{k}: {v}" for k, v in request.headers.items()) + body.decode()
    assert_nowhere([("the request sent", sent), ("POST /test", response.content.decode())], secret)
    logs.assert_clean(secret, header_credential)


def test_no_get_answer_holds_a_webhook_secret_after_deliveries(admin_api, webhook_world):
    assert_nowhere(api_texts(admin_api), *webhook_world["secrets"])


def test_only_the_webhook_object_shows_custom_header_credentials(admin_api, webhook_world):
    """GET /webhooks and /webhooks/{id} return `headers` (the reference); nothing else may."""
    texts = api_texts(admin_api, skip=("/webhooks", "/webhooks/{id}"))
    assert_nowhere(texts, webhook_world["header"])
    detail = admin_api.get(f"/webhooks/{webhook_world['ids'][0]}").json()
    assert detail["headers"]["X-Token"] == webhook_world["header"]


def test_viewers_cannot_read_a_webhook_url_through_events(admin_api, local_targets, receiver):
    token = new_secret("url-token")
    webhook_id, _ = create_webhook(admin_api, receiver.url_for("/hook") + f"?token={token}")
    assert admin_api.post(f"/webhooks/{webhook_id}/test").status_code == 200
    assert_nowhere(api_texts(_client_with(bearer("viewer"))), token)


def test_no_admin_page_shows_a_webhook_secret(operator, webhook_world):
    assert_nowhere(admin_texts(operator), *webhook_world["secrets"])


def test_only_the_admin_webhook_form_shows_custom_header_credentials(operator, webhook_world):
    assert_nowhere(admin_texts(operator, skip=("webhooks.webhook",)), webhook_world["header"])


def test_the_admin_webhook_form_does_not_render_a_new_secret_back(operator, webhook_world):
    """A refused save re-renders the form: the secret typed into it is not sent back."""
    webhook_id = webhook_world["ids"][0]
    typed = new_secret("typed")
    response = operator.post(
        f"/admin/webhooks/webhook/{webhook_id}/change/",
        {
            "url": "not a url",
            "events": "[]",
            "headers": "{}",
            "metadata": "{}",
            "active": "on",
            "new_secret": typed,
            "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form with its errors
    assert_nowhere([("re-rendered form", response.content.decode())], typed)
    assert Webhook.objects.get(pk=webhook_id).secret != typed


def test_a_secret_generated_in_the_admin_is_shown_once(operator, local_targets):
    response = operator.post(
        "/admin/webhooks/webhook/add/",
        {
            "url": "http://127.0.0.1:9/admin-made",
            "events": "[]",
            "headers": "{}",
            "metadata": "{}",
            "active": "on",
            "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    secret = Webhook.objects.get(url="http://127.0.0.1:9/admin-made").secret
    assert secret in response.content.decode()  # the one time it is shown
    assert_nowhere(admin_texts(operator), secret)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"metadata": {"note": "a\x00b"}}, id="nul-in-metadata"),
        pytest.param({"metadata": {"note\x00": "x"}}, id="nul-in-a-metadata-key"),
        pytest.param({"metadata": {"note": "\ud800"}}, id="lone-surrogate-in-metadata"),
        pytest.param({"headers": {"X-A": "\udfff"}}, id="lone-surrogate-in-a-header"),
    ],
)
@pytest.mark.parametrize("method", ["post", "put"])
def test_a_webhook_body_the_database_cannot_store_is_refused_without_logging_secrets(
    admin_api, local_targets, header_credential, logs, method, body
):
    """PostgreSQL refuses NUL and lone surrogates in jsonb; its error quotes the SQL around the
    bad value, secret included, and Django logs it with the 500. They are refused up front."""
    headers = {"X-Token": header_credential}
    secret = new_secret("plain")
    url, data = "/webhooks", {"url": "http://127.0.0.1:9/hook", "headers": headers}
    if method == "put":
        webhook_id, _ = create_webhook(admin_api, "http://127.0.0.1:9/hook", headers=headers)
        url, data = f"/webhooks/{webhook_id}", {}
    count = Webhook.objects.count()
    raw = json.dumps({**data, "secret": secret, **body})  # \u escapes: any text goes
    response = getattr(admin_api, method)(url, raw, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert Webhook.objects.count() == count
    assert not Webhook.objects.filter(secret=secret).exists()
    logs.assert_clean(secret, header_credential)


@pytest.mark.integration
def test_deliveries_by_the_worker_log_no_secret(
    transactional_db, live_worker, local_targets, receiver, header_credential, logs
):
    admin_api, editor = _client_with(bearer("admin")), _client_with(bearer("editor"))
    headers = {"Authorization": f"Bearer {header_credential}"}
    ok_id, ok_secret = create_webhook(admin_api, receiver.url_for("/hook"), headers=headers)
    plain = new_secret("plain")
    broken_id, _ = create_webhook(
        admin_api, receiver.url_for("/broken"), secret=plain, headers=headers
    )
    assert editor.post("/configs", {"name": "c", "content": ""}, format="json").status_code == 201
    delivered = wait_for(
        lambda: Delivery.objects.filter(webhook_id=ok_id, status="succeeded").first()
    )
    failed = wait_for(
        lambda: Delivery.objects.filter(webhook_id=broken_id, status="failed").first()
    )
    assert admin_api.post(f"/webhooks/deliveries/{failed.id}/retry").status_code == 200
    wait_for(lambda: Delivery.objects.filter(pk=failed.id, status="failed", attempts=2).first())
    assert delivered.attempts == 1
    logs.assert_heard_the_worker()
    logs.assert_clean(ok_secret, plain, header_credential)


# --- API keys and JWTs ---------------------------------------------------------------------------


def test_an_api_key_made_in_the_admin_is_shown_once_then_nowhere(operator, logs):
    response = operator.post(
        "/admin/accounts/apikey/add/", {"name": "from-admin", "role": "editor"}, follow=True
    )
    message = next(str(m) for m in response.context["messages"] if "cai_" in str(m))
    raw_key = message.rsplit(" ", 1)[-1]
    stored = ApiKey.objects.get(name="from-admin")
    used = _client_with({"HTTP_X_API_KEY": raw_key})
    assert used.post("/configs", {"name": "k", "content": ""}, format="json").status_code == 201
    texts = admin_texts(operator) + api_texts(used)
    assert_nowhere(texts, key_secret(raw_key), stored.key_hash)
    logs.assert_clean(key_secret(raw_key), stored.key_hash)


def test_an_api_key_made_by_the_command_is_printed_once_then_nowhere(admin_api, operator, logs):
    out = StringIO()
    call_command("create_api_key", "--name", "cli", "--role", "viewer", stdout=out)
    raw_key = re.search(r"cai_[0-9a-f]{12}_\S+", out.getvalue()).group(0)
    used = _client_with({"HTTP_X_API_KEY": raw_key})
    texts = api_texts(used) + api_texts(admin_api) + admin_texts(operator)
    assert_nowhere(texts, key_secret(raw_key))
    logs.assert_clean(key_secret(raw_key))


def test_failed_credentials_are_not_logged_or_echoed(db, settings, logs):
    good_key = api_key_create(name="k", role="admin")[1]
    revoked_key = api_key_create(name="r", role="admin")[1]
    api_key_revoke(api_key=ApiKey.objects.get(name="r"))
    tampered_key = good_key[:-4] + ("AAAA" if not good_key.endswith("AAAA") else "BBBB")
    unknown_key = f"cai_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    forged = jwt.encode({"sub": "x", "roles": ["admin"], "exp": 4102444800}, "k" * 40)
    expired = bearer("admin", ttl=-timedelta(seconds=5))
    expired_token = expired["HTTP_AUTHORIZATION"].split()[1]
    attempts = [
        {"HTTP_X_API_KEY": revoked_key},
        {"HTTP_X_API_KEY": tampered_key},
        {"HTTP_X_API_KEY": unknown_key},
        {"HTTP_X_API_KEY": "x" * 300 + unknown_key},
        {"HTTP_AUTHORIZATION": f"Bearer {forged}"},
        {"HTTP_AUTHORIZATION": f"Bearer {forged} extra"},
        {"HTTP_AUTHORIZATION": f"Bearer {expired_token}"},
        {"HTTP_AUTHORIZATION": f"Basic {unknown_key}", "HTTP_X_API_KEY": tampered_key},
    ]
    answers = []
    for headers in attempts:
        for method, url in (("get", "/jobs"), ("post", "/jobs"), ("get", "/webhooks")):
            response = getattr(_client_with(headers), method)(url, {}, format="json")
            assert response.status_code == 401, (headers, response.content)
            answers.append((f"{method} {url}", response.content.decode()))
    keys = [revoked_key, tampered_key, unknown_key, good_key]
    needles = [*map(key_secret, keys), jwt_signature(forged), jwt_signature(expired_token)]
    assert_nowhere(answers, *needles)
    logs.assert_clean(*needles)


def test_a_jwt_and_its_signing_key_are_in_no_answer_or_log(db, settings, logs, operator):
    settings.CODEAI_JWT_SIGNING_KEY = new_secret("signing-key")
    headers = bearer("admin", subject="jwt-user")
    token = headers["HTTP_AUTHORIZATION"].split()[1]
    api = _client_with(headers)
    assert api.post("/configs", {"name": "j", "content": ""}, format="json").status_code == 201
    assert api.post("/jobs", {"task_type": "echo"}, format="json").status_code == 201
    texts = api_texts(api) + admin_texts(operator)
    assert_nowhere(texts, jwt_signature(token), settings.CODEAI_JWT_SIGNING_KEY)
    logs.assert_clean(token, jwt_signature(token), settings.CODEAI_JWT_SIGNING_KEY)


# --- settings secrets ----------------------------------------------------------------------------


def test_the_metrics_token_is_in_no_answer_or_log(admin_api, settings, logs):
    token = new_secret("metrics")
    settings.CODEAI_METRICS_TOKEN = token
    settings.CODEAI_HEALTH_CHECK_TIMEOUT_SECONDS = 0.2
    wrong = new_secret("wrong-metrics")
    answers = []
    for presented, status in ((token, 200), (wrong, 401), (token[:-1], 401), ("", 401)):
        response = APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {presented}")
        assert response.status_code == status
        answers.append(("GET /metrics", response.content.decode()))
    for url in ("/health", "/health/ready", "/health/live", "/openapi.json"):
        answers.append((url, APIClient().get(url).content.decode()))
    assert_nowhere(answers + api_texts(admin_api), token, wrong)
    logs.assert_clean(token, wrong)


def test_a_broker_password_is_not_in_the_open_health_answer(db, settings, logs):
    password = new_secret("broker-password")
    settings.CELERY_BROKER_URL = f"redis://:{password}@127.0.0.1:1/0"
    settings.CODEAI_HEALTH_CHECK_TIMEOUT_SECONDS = 1
    response = APIClient().get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["status"] == "unhealthy"
    assert_nowhere([("GET /health/ready", response.content.decode())], password)
    logs.assert_clean(password)


class FakeProvider:
    """An OpenAI-compatible Chat Completions endpoint that records who called it."""

    def __init__(self, server, *, status: int = 200):
        self.server, self.status, self.authorizations = server, status, []
        server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(
            self.handle
        )

    def handle(self, request):
        self.authorizations.append(request.headers.get("Authorization"))
        if self.status != 200:
            error = {"error": {"message": "Incorrect API key provided", "type": "auth"}}
            return Response(json.dumps(error), status=self.status, content_type="application/json")
        body = json.loads(request.get_data())
        answer = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "fine"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return Response(json.dumps(answer), status=200, content_type="application/json")


@pytest.fixture
def llm_key(settings, httpserver) -> str:
    key = "sk-" + secrets.token_urlsafe(32)
    settings.CODEAI_LLM_BASE_URL = httpserver.url_for("/v1")
    settings.CODEAI_LLM_API_KEY = key
    settings.CODEAI_LLM_MAX_RETRIES = 0
    return key


def _run_llm_work(editor: APIClient) -> tuple[str, str]:
    workflow = {
        "workflowId": "llm-wf",
        "workflowType": "ai-pipeline",
        "input": {"model": "gpt-test", "prompt": "hi", "retryPolicy": {"maximumAttempts": 1}},
    }
    assert editor.post("/workflows", workflow, format="json").status_code == 202
    job = {"task_type": "agent.run", "payload": {"model": "gpt-test", "prompt": "hi"}}
    response = editor.post("/jobs", {**job, "max_retries": 0}, format="json")
    assert response.status_code == 201
    job_id = response.json()["id"]
    run = wait_for(
        lambda: (
            (body := editor.get("/workflows/llm-wf").json())["status"] in ("completed", "failed")
            and body
        )
    )
    job = wait_for(
        lambda: (
            (body := editor.get(f"/jobs/{job_id}").json())["status"] in ("completed", "failed")
            and body
        )
    )
    return run["status"], job["status"]


@pytest.mark.integration
@pytest.mark.parametrize(("provider_status", "outcome"), [(200, "completed"), (401, "failed")])
def test_the_llm_api_key_goes_only_to_the_provider(
    transactional_db, live_worker, httpserver, llm_key, logs, provider_status, outcome
):
    provider = FakeProvider(httpserver, status=provider_status)
    editor = _client_with(bearer("editor"))
    assert _run_llm_work(editor) == (outcome, outcome)
    assert provider.authorizations and set(provider.authorizations) == {f"Bearer {llm_key}"}
    from django.contrib.auth import get_user_model

    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("o", "o@example.com", "pw"))
    assert_nowhere(api_texts(_client_with(bearer("admin"))) + admin_texts(browser), llm_key)
    logs.assert_heard_the_worker()
    logs.assert_clean(llm_key)


@pytest.mark.integration
def test_http_request_job_header_credentials_are_only_in_the_job_payload(
    transactional_db, live_worker, local_targets, httpserver, header_credential, logs
):
    httpserver.expect_request("/private").respond_with_data("who are you?", status=401)
    editor = _client_with(bearer("editor"))
    payload = {
        "url": httpserver.url_for("/private"),
        "headers": {"Authorization": f"Bearer {header_credential}"},
    }
    response = editor.post(
        "/jobs", {"task_type": "http.request", "payload": payload, "max_retries": 0}, format="json"
    )
    job_id = response.json()["id"]
    job = wait_for(lambda: (b := editor.get(f"/jobs/{job_id}").json())["status"] == "failed" and b)
    (request, _), *_ = httpserver.log
    assert request.headers["Authorization"] == f"Bearer {header_credential}"
    assert "401" in job["error"]
    texts = api_texts(_client_with(bearer("admin")), skip=("/jobs", "/jobs/{id}"))
    texts.append(("job error and result", json.dumps([job["error"], job["result"]])))
    assert_nowhere(texts, header_credential)
    logs.assert_heard_the_worker()
    logs.assert_clean(header_credential)
