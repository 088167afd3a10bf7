"""CodeAI settings: the only settings module. Every value comes from the environment.

Embedded defaults (SQLite, the filesystem broker) let `make run` work on a bare machine;
DATABASE_URL and CELERY_BROKER_URL switch to PostgreSQL and Redis. README.md lists every variable.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def _env_number(name: str, default, parse, kind: str):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return parse(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be {kind}, got {value!r}") from exc


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "an integer")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


def env_list(name: str, default: str) -> list[str]:
    return [item for item in os.environ.get(name, default).replace(",", " ").split() if item]


# --- Core -------------------------------------------------------------------------------------

DEBUG = env_bool("CODEAI_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    # Development and tests only; `manage.py check --deploy` flags an insecure key.
    SECRET_KEY = "django-insecure-codeai-development-key-set-DJANGO_SECRET_KEY-in-production"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost 127.0.0.1 [::1] testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
VAR_DIR = Path(env_str("CODEAI_VAR_DIR", str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "apps.accounts",
    "apps.events",
    "apps.webhooks",
    "apps.configs",
    "apps.deployments",
    "apps.jobs",
    "apps.workflows",
    "apps.dsl",
    "apps.health",
]

MIDDLEWARE = [
    "codeai.api.middleware.RequestIDMiddleware",
    "codeai.api.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "codeai.api.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "codeai.urls"
WSGI_APPLICATION = "codeai.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("CODEAI_DB_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # psycopg prepares a statement once it ran this many times on a connection. Only the
        # hot paths' statements can be prepared (codeai/db.py binds their parameters on the
        # server; Django's own cursors bind them in the text and never prepare). 0 turns it off,
        # e.g. behind a pooler in transaction mode that does not carry prepared statements.
        _prepare_threshold = env_int("CODEAI_DB_PREPARE_THRESHOLD", 5)
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
            _prepare_threshold or None
        )
else:
    # Web, worker and beat share this file: WAL + IMMEDIATE transactions + a busy timeout make
    # concurrent writers wait instead of failing with "database is locked".
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "codeai.sqlite3",
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not the in-memory default: worker threads in integration tests then share
            # it through WAL and the busy timeout instead of failing on shared-cache table locks.
            "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- I18N / time ------------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- API --------------------------------------------------------------------------------------

CODEAI_MAX_BODY_BYTES = env_int("CODEAI_MAX_BODY_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = CODEAI_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "codeai.api.authentication.BearerJWTAuthentication",
        "codeai.api.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["codeai.api.permissions.RolePermission"],
    "DEFAULT_PARSER_CLASSES": ["codeai.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "codeai.api.pagination.LimitOffsetEnvelopePagination",
    "DEFAULT_FILTER_BACKENDS": ["codeai.api.filters.ApiFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "codeai.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "PAGE_SIZE": 20,
    "URL_FORMAT_OVERRIDE": None,  # `?format=` belongs to endpoints (configs/{id}/openapi)
    "DEFAULT_METADATA_CLASS": None,  # OPTIONS is not part of the contract: 405
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CodeAI API",
    "DESCRIPTION": "Control plane for declarative backend services and AI automation.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["codeai.api.schema.canonical_paths"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "codeai.api.schema.error_responses",
        "codeai.api.schema.backend_independent_integers",
    ],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DeploymentStatusEnum": "apps.deployments.models.Deployment.Status",
        "ExecutionStatusEnum": "apps.deployments.models.Execution.Status",
        "JobStatusEnum": "apps.jobs.models.Job.Status",
        "HealthStatusEnum": ["healthy", "unhealthy"],
    },
    "SERVERS": [{"url": "http://localhost:8080", "description": "Development"}],
}

# --- Auth -------------------------------------------------------------------------------------

CODEAI_JWT_ALGORITHM = env_str("CODEAI_JWT_ALGORITHM", "HS256")
CODEAI_JWT_SIGNING_KEY = env_str("CODEAI_JWT_SIGNING_KEY", SECRET_KEY)
CODEAI_JWT_PUBLIC_KEY = env_str("CODEAI_JWT_PUBLIC_KEY")
CODEAI_JWT_JWKS_URL = env_str("CODEAI_JWT_JWKS_URL")
CODEAI_JWT_ISSUER = env_str("CODEAI_JWT_ISSUER") or None
CODEAI_JWT_AUDIENCE = env_str("CODEAI_JWT_AUDIENCE") or None
CODEAI_JWT_LEEWAY_SECONDS = env_int("CODEAI_JWT_LEEWAY_SECONDS", 0)

# --- Celery -----------------------------------------------------------------------------------

CODEAI_QUEUES = env_list("CODEAI_QUEUES", "default high-priority low")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
BROKER_FOLDER = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("out", "processed", "control"):
        (BROKER_FOLDER / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_FOLDER / "out"),
        "data_folder_out": str(BROKER_FOLDER / "out"),
        "processed_folder": str(BROKER_FOLDER / "processed"),
        "control_folder": str(BROKER_FOLDER / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
else:
    # Above the longest task timeout so Redis never redelivers a task that is still running.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CODEAI_VISIBILITY_TIMEOUT_SECONDS", 6 * 3600)
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = None  # state lives in our own rows; Celery results are not used
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = CODEAI_QUEUES[0]
# One direct exchange per queue, routing key = queue name, so a message lands in exactly one queue.
CELERY_TASK_QUEUES = [Queue(name, Exchange(name), routing_key=name) for name in CODEAI_QUEUES]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes every database connection before and after EVERY task unless
# this is set: a new PostgreSQL connection per task. Workers instead close connections the way
# Django's request cycle does (CONN_MAX_AGE, unusable after an error): apps/jobs/tasks.py.
CELERY_DB_REUSE_MAX = 1_000_000

# Jobs (docs/jobs.md). Durations in seconds.
CODEAI_TASK_HANDLERS = env_str("CODEAI_TASK_HANDLERS")  # name=module.path:callable …
CODEAI_JOB_DEFAULT_MAX_RETRIES = env_int("CODEAI_JOB_DEFAULT_MAX_RETRIES", 3)
CODEAI_JOB_DEFAULT_TIMEOUT_SECONDS = env_int("CODEAI_JOB_DEFAULT_TIMEOUT_SECONDS", 30 * 60)
# Kept below CODEAI_VISIBILITY_TIMEOUT_SECONDS so Redis never redelivers a running job.
CODEAI_JOB_MAX_TIMEOUT_SECONDS = env_int("CODEAI_JOB_MAX_TIMEOUT_SECONDS", 5 * 3600)
CODEAI_JOB_HARD_TIMEOUT_GRACE_SECONDS = env_int("CODEAI_JOB_HARD_TIMEOUT_GRACE_SECONDS", 10)
CODEAI_JOB_RETRY_BASE_SECONDS = env_int("CODEAI_JOB_RETRY_BASE_SECONDS", 2)
CODEAI_JOB_RETRY_MAX_SECONDS = env_int("CODEAI_JOB_RETRY_MAX_SECONDS", 600)
CODEAI_JOB_HEARTBEAT_SECONDS = env_int("CODEAI_JOB_HEARTBEAT_SECONDS", 5)
CODEAI_JOB_LOST_AFTER_SECONDS = env_int("CODEAI_JOB_LOST_AFTER_SECONDS", 30)
CODEAI_JOB_SWEEP_SECONDS = env_int("CODEAI_JOB_SWEEP_SECONDS", 5)
CODEAI_JOB_ETA_HORIZON_SECONDS = env_int("CODEAI_JOB_ETA_HORIZON_SECONDS", 600)
CODEAI_JOB_REQUEUE_AFTER_SECONDS = env_int("CODEAI_JOB_REQUEUE_AFTER_SECONDS", 900)
CODEAI_JOB_HTTP_ALLOW_PRIVATE_URLS = env_bool("CODEAI_JOB_HTTP_ALLOW_PRIVATE_URLS", DEBUG)
CODEAI_SCHEDULER_HEARTBEAT_SECONDS = env_int("CODEAI_SCHEDULER_HEARTBEAT_SECONDS", 10)
# The OpenAI-compatible Chat Completions provider (agent.run jobs; workflows use it too).
CODEAI_LLM_BASE_URL = env_str("CODEAI_LLM_BASE_URL")
CODEAI_LLM_API_KEY = env_str("CODEAI_LLM_API_KEY")
CODEAI_LLM_TIMEOUT_SECONDS = env_int("CODEAI_LLM_TIMEOUT_SECONDS", 60)
# Workflows (docs/workflows.md). Durations in seconds.
CODEAI_LLM_MAX_RETRIES = env_int("CODEAI_LLM_MAX_RETRIES", 2)
CODEAI_LLM_RETRY_AFTER_MAX_SECONDS = env_int("CODEAI_LLM_RETRY_AFTER_MAX_SECONDS", 30)
CODEAI_WORKFLOW_QUEUE = env_str("CODEAI_WORKFLOW_QUEUE", CODEAI_QUEUES[0])
CODEAI_WORKFLOW_STEP_TIMEOUT_SECONDS = env_int("CODEAI_WORKFLOW_STEP_TIMEOUT_SECONDS", 600)
CODEAI_WORKFLOW_TEST_CASE_TIMEOUT_SECONDS = env_int("CODEAI_WORKFLOW_TEST_CASE_TIMEOUT_SECONDS", 30)
# Kept below CODEAI_VISIBILITY_TIMEOUT_SECONDS so Redis never redelivers a running step.
CODEAI_WORKFLOW_MAX_STEP_TIMEOUT_SECONDS = env_int(
    "CODEAI_WORKFLOW_MAX_STEP_TIMEOUT_SECONDS", 5 * 3600
)
CODEAI_WORKFLOW_HARD_TIMEOUT_GRACE_SECONDS = env_int(
    "CODEAI_WORKFLOW_HARD_TIMEOUT_GRACE_SECONDS", 10
)
# Eager dispatch: a step's task runs the run's next step itself, without a message, while it
# has run for less than this (0: every step is its own message). docs/workflows.md. A step's task
# may run for its timeout + the grace + this: keep the sum below CODEAI_VISIBILITY_TIMEOUT_SECONDS.
CODEAI_WORKFLOW_EAGER_SECONDS = env_float("CODEAI_WORKFLOW_EAGER_SECONDS", 10)
CODEAI_WORKFLOW_CANCEL_POLL_SECONDS = env_float("CODEAI_WORKFLOW_CANCEL_POLL_SECONDS", 0.5)
CODEAI_WORKFLOW_RESEND_AFTER_SECONDS = env_int("CODEAI_WORKFLOW_RESEND_AFTER_SECONDS", 300)
CODEAI_WORKFLOW_HTTP_ALLOW_PRIVATE_URLS = env_bool(
    "CODEAI_WORKFLOW_HTTP_ALLOW_PRIVATE_URLS", env_bool("CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS", DEBUG)
)

# Periodic tasks; beat's DatabaseScheduler syncs these into django-celery-beat rows at start.
CELERY_BEAT_SCHEDULE: dict = {
    # events/webhooks entries
    "events-outbox-sweep": {"task": "events.outbox_sweep", "schedule": 15.0},
    "events-count-roll-up": {"task": "events.count_roll_up", "schedule": 60.0},
    "webhooks-delivery-sweep": {"task": "webhooks.sweep", "schedule": 15.0},
    "events-prune": {"task": "events.prune", "schedule": 86400.0},
    "webhooks-prune": {"task": "webhooks.prune", "schedule": 86400.0},
    # jobs entries
    "jobs-sweep": {"task": "jobs.sweep", "schedule": float(CODEAI_JOB_SWEEP_SECONDS)},
    "jobs-scheduler-heartbeat": {
        "task": "jobs.scheduler_heartbeat",
        "schedule": float(CODEAI_SCHEDULER_HEARTBEAT_SECONDS),
    },
    "jobs-prune": {"task": "jobs.prune", "schedule": 86400.0},
    # workflows entries
    "workflows-sweep": {"task": "workflows.sweep", "schedule": 15.0},
    "deployments-sweep": {"task": "deployments.sweep", "schedule": 15.0},
}

# --- Product settings -------------------------------------------------------------------------

CODEAI_EXEC_ENABLED = env_bool("CODEAI_EXEC_ENABLED", False)
CODEAI_EXEC_TIMEOUT_SECONDS = env_int("CODEAI_EXEC_TIMEOUT_SECONDS", 30)
CODEAI_DSL_MAX_STEPS = env_int("CODEAI_DSL_MAX_STEPS", 1_000_000)
CODEAI_DSL_TIMEOUT_SECONDS = env_int("CODEAI_DSL_TIMEOUT_SECONDS", 60)
# A pending execution whose message has not run this long is published again (lost message).
CODEAI_EXECUTION_REQUEUE_AFTER_SECONDS = env_int("CODEAI_EXECUTION_REQUEUE_AFTER_SECONDS", 60)
CODEAI_RETENTION_DAYS = env_int("CODEAI_RETENTION_DAYS", 90)
CODEAI_HEALTH_CHECK_TIMEOUT_SECONDS = env_int("CODEAI_HEALTH_CHECK_TIMEOUT_SECONDS", 3)
CODEAI_METRICS_TOKEN = env_str("CODEAI_METRICS_TOKEN")  # empty: GET /metrics is disabled
# Events and webhooks (docs/webhooks.md).
CODEAI_EVENT_OUTBOX_DELAY_SECONDS = env_int("CODEAI_EVENT_OUTBOX_DELAY_SECONDS", 30)
# How stale a process's view of "which event types have a subscriber" may be (emit() skips the
# fan-out for the others); creating or widening a webhook waits this long after commit.
CODEAI_WEBHOOK_SUBSCRIPTION_CACHE_MS = env_int("CODEAI_WEBHOOK_SUBSCRIPTION_CACHE_MS", 1000)
CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS", DEBUG)
CODEAI_WEBHOOK_RETRY_SCHEDULE = env_str(
    "CODEAI_WEBHOOK_RETRY_SCHEDULE", "0s,5s,5m,30m,2h,5h,10h,10h"
)
CODEAI_WEBHOOK_DISABLE_AFTER = env_int("CODEAI_WEBHOOK_DISABLE_AFTER", 10)
CODEAI_WEBHOOK_TIMEOUT_SECONDS = env_int("CODEAI_WEBHOOK_TIMEOUT_SECONDS", 15)
# webhooks.sweep re-queues open deliveries this long past due (a lost message or worker).
CODEAI_WEBHOOK_REQUEUE_AFTER_SECONDS = env_int("CODEAI_WEBHOOK_REQUEUE_AFTER_SECONDS", 120)

# --- Logging: one JSON object per line, with the request id -------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "codeai.api.logging.RequestIDFilter"}},
    "formatters": {"json": {"()": "codeai.api.logging.JSONFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("CODEAI_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        # Even with CODEAI_LOG_LEVEL=DEBUG: these log SQL parameters and template contexts,
        # which hold webhook secrets and password hashes.
        "django.db.backends": {"level": "INFO"},
        "django.template": {"level": "INFO"},
    },
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
