"""The SSRF guard: refused targets at create, update and send time; the reusable functions."""

import socket

import pytest
import requests

from apps.webhooks.models import Delivery, DeliveryAttempt
from apps.webhooks.services import delivery_attempt, webhook_test
from apps.webhooks.ssrf import (
    InvalidURLError,
    PrivateAddressError,
    UnresolvableHostError,
    UnsafeURLError,
    check_url,
    safe_request,
)

REFUSED = [
    "http://127.0.0.1/",
    "http://localhost/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://127.1/",
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a00:1::]/",
    "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",
    "http://[64:ff9b::a00:1]/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_non_public_targets_are_refused(url):
    with pytest.raises(PrivateAddressError, match="resolves to a private address"):
        check_url(url, allow_private=False)


@pytest.mark.parametrize("url", ["https://8.8.8.8/hook", "http://[2606:4700:4700::1111]:8080/"])
def test_public_ip_literals_are_allowed(url):
    check_url(url, allow_private=False)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/", "http://10.0.0.1/", "http://receiver/"])
def test_allow_private_skips_the_address_check(url):
    check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "http://a b/",
        "http://x\\@8.8.8.8/",
        "https://example.com/\u202egnp.exe",  # right-to-left override: displays reversed
    ],
)
def test_malformed_urls_are_invalid_even_when_private_is_allowed(url):
    with pytest.raises(InvalidURLError, match="must be a valid URL"):
        check_url(url, allow_private=True)


def test_errors_are_value_errors():
    assert issubclass(UnsafeURLError, ValueError)


def test_a_host_is_refused_when_any_of_its_answers_is_private(monkeypatch):
    def resolve(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(PrivateAddressError):
        check_url("https://rebinding.example/", allow_private=False)


def test_unresolvable_host_is_refused(monkeypatch):
    def resolve(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(UnresolvableHostError, match="host does not resolve"):
        check_url("https://nowhere.example/", allow_private=False)


def test_safe_request_refuses_loopback_without_sending(httpserver):
    httpserver.expect_request("/").respond_with_data("secret")
    with pytest.raises(PrivateAddressError):
        safe_request("GET", httpserver.url_for("/"), timeout=5)
    assert httpserver.log == []


def test_safe_request_refuses_a_name_resolving_to_loopback_at_connect_time(httpserver):
    httpserver.expect_request("/").respond_with_data("secret")
    with pytest.raises(PrivateAddressError):
        safe_request("GET", f"http://localhost:{httpserver.port}/", timeout=5)
    assert httpserver.log == []


def test_safe_request_never_follows_redirects(httpserver):
    httpserver.expect_request("/start").respond_with_data(
        "", status=302, headers={"Location": "/internal"}
    )
    httpserver.expect_request("/internal").respond_with_data("internal")
    response = safe_request("GET", httpserver.url_for("/start"), allow_private=True, timeout=5)
    assert response.status_code == 302
    assert [request.path for request, _ in httpserver.log] == ["/start"]


def test_safe_request_refuses_non_http_schemes():
    with pytest.raises(InvalidURLError):
        safe_request("GET", "file:///etc/passwd", allow_private=True, timeout=5)


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://10.0.0.1/hook"])
def test_create_refuses_private_targets_with_400(admin, private_urls_refused, url):
    response = admin.post("/webhooks", {"url": url}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": "validation failed",
        "details": {"url": "resolves to a private address"},
    }


def test_create_accepts_a_public_target_when_the_guard_is_on(admin, private_urls_refused):
    response = admin.post("/webhooks", {"url": "https://8.8.8.8/hook"}, format="json")
    assert response.status_code == 201


def test_update_refuses_private_targets_with_400(admin, private_urls_refused):
    created = admin.post("/webhooks", {"url": "https://8.8.8.8/hook"}, format="json").json()
    response = admin.put(
        f"/webhooks/{created['id']}", {"url": "http://127.0.0.1:9/"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["details"] == {"url": "resolves to a private address"}


def test_create_accepts_loopback_when_private_urls_are_allowed(admin, private_urls_allowed):
    response = admin.post("/webhooks", {"url": "http://127.0.0.1:9/hook"}, format="json")
    assert response.status_code == 201


def test_send_time_guard_fails_the_attempt_without_a_request(
    make_webhook, httpserver, settings, short_retries
):
    webhook = make_webhook(httpserver.url_for("/hook"))
    settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS = False  # e.g. the setting changed after create
    delivery = webhook_test(webhook=webhook)
    assert (delivery.success, delivery.status_code) == (False, None)
    assert delivery.error == "not sent: url resolves to a private address"
    assert DeliveryAttempt.objects.get(delivery=delivery).error == delivery.error
    assert httpserver.log == []


def test_send_time_guard_schedules_a_retry_for_event_deliveries(
    make_webhook, httpserver, settings, short_retries
):
    from apps.events.services import emit

    webhook = make_webhook(httpserver.url_for("/hook"))
    settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS = False
    event = emit(type="job.failed", source="t", data={})
    delivery = delivery_attempt(delivery_id=webhook.deliveries.get(event_ref=event.id).id)
    assert delivery.status == Delivery.Status.RETRYING
    assert webhook.deliveries.get().error.startswith("not sent:")
    assert httpserver.log == []


def test_safe_request_connects_to_the_address_it_checked(httpserver, monkeypatch):
    """DNS rebinding: the name resolves once, public; a second answer (loopback) is never used."""
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        address = "192.0.2.1" if len(lookups) == 1 else "127.0.0.1"  # TEST-NET-1, then loopback
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr("apps.webhooks.ssrf.is_public_address", lambda address: True)
    httpserver.expect_request("/").respond_with_data("internal")
    with pytest.raises(requests.RequestException):
        safe_request("GET", f"http://rebind.example:{httpserver.port}/", timeout=0.5)
    assert lookups == ["rebind.example"]
    assert httpserver.log == []


def test_safe_request_does_not_keep_cookies_between_requests(httpserver):
    httpserver.expect_ordered_request("/first").respond_with_data(
        "", headers={"Set-Cookie": "session=secret; Path=/"}
    )
    httpserver.expect_ordered_request("/second").respond_with_data("")
    for path in ("/first", "/second"):
        safe_request("GET", httpserver.url_for(path), allow_private=True, timeout=5)
    second, _ = httpserver.log[1]
    assert "Cookie" not in second.headers
