import pytest

TEST_HANDLERS = (
    "test.fail=tests.jobs.handlers:fail, test.sleep=tests.jobs.handlers:sleep "
    "test.nap=tests.jobs.handlers.nap test.record=tests.jobs.handlers:record "
    "tests.jobs.handlers.flaky test.unserialisable=tests.jobs.handlers:unserialisable "
    "test.where=tests.jobs.handlers:where"
)


@pytest.fixture(autouse=True)
def job_settings(settings):
    """Test handlers, fast retries and heartbeats, and local HTTP targets."""
    settings.CODEAI_TASK_HANDLERS = TEST_HANDLERS
    settings.CODEAI_JOB_RETRY_BASE_SECONDS = 0.05
    settings.CODEAI_JOB_RETRY_MAX_SECONDS = 0.2
    settings.CODEAI_JOB_HEARTBEAT_SECONDS = 0.1
    settings.CODEAI_JOB_HTTP_ALLOW_PRIVATE_URLS = True
    return settings
