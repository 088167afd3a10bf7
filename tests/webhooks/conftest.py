"""Fixtures for webhook tests: URL policy, webhook rows and polling for the real worker."""

import pytest

from apps.webhooks.services import webhook_create
from tests import waiting


@pytest.fixture
def private_urls_allowed(settings):
    """Deliveries go to pytest-httpserver on 127.0.0.1, which the SSRF guard would refuse."""
    settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def private_urls_refused(settings):
    settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS = False


@pytest.fixture
def short_retries(settings):
    settings.CODEAI_WEBHOOK_RETRY_SCHEDULE = "0s,1s,1s"


@pytest.fixture
def make_webhook(db, private_urls_allowed):
    """make_webhook(url, events=[...], secret=...) → the Webhook row (created via the service)."""

    def make(url: str, **fields):
        webhook, _ = webhook_create(url=url, **fields)
        return webhook

    return make


@pytest.fixture
def wait_for():
    """wait_for(predicate, seconds=30): poll until it returns something truthy, or fail."""

    def wait(predicate, seconds: float = 30.0):
        return waiting.wait_for(predicate, seconds=seconds, interval=0.05)

    return wait
