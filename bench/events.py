"""GET /events and /events/stats latency with 1,000,000 events in PostgreSQL.

    .venv/bin/python bench/events.py [--events 1000000] [--requests 200]

Uses its own database (`codeai_bench` on BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/codeai_bench), created and migrated if needed and filled once
with COPY. Requests go through the whole Django stack in-process (auth, filters, pagination,
rendering); the baseline is a bare Django view measured in the same run. Targets: p50 < 100 ms.
The hourly counts behind /events/stats are brought up to date first, as the beat task would.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/codeai_bench"
)
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codeai.settings")
os.environ.setdefault("CODEAI_LOG_LEVEL", "WARNING")

# Each service emits its own event types (as the apps' SOURCE constants do).
SOURCE_BY_CATEGORY = {
    "workflow": "workflow-engine",
    "job": "job-scheduler",
    "agent": "agent-runner",
    "test": "test-runner",
    "webhook": "webhook-service",
    "notification": "notifier",
    "deployment": "deployment-service",
    "execution": "deployment-service",
    "config": "config-service",
}


def ensure_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def fill(target: int) -> None:
    from django.db import connection

    from apps.events.catalogue import EVENT_TYPES
    from apps.events.models import Event

    have = Event.objects.count()
    if have >= target:
        print(f"events table already holds {have:,} rows")
        return
    types = [(t.type, SOURCE_BY_CATEGORY[t.category]) for t in EVENT_TYPES]
    weights = [30 if t.startswith(("job.", "workflow.")) else 5 for t, _ in types]
    now = datetime.now(UTC)
    rng = random.Random(42)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.connection
        columns = "(id, type, source, timestamp, data, metadata, dispatched_at)"
        with raw.cursor().copy(f"COPY events_event {columns} FROM STDIN") as copy:
            for _ in range(target - have):
                at = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
                event_type, source = rng.choices(types, weights)[0]
                data = json.dumps({"job_id": f"job-{uuid.uuid4()}", "attempt": rng.randint(1, 3)})
                copy.write_row(
                    (
                        f"evt-{uuid.uuid4()}",
                        event_type,
                        source,
                        at,
                        data,
                        "{}",
                        at,
                    )
                )
        cursor.execute("VACUUM ANALYZE events_event")
    print(f"inserted {target - have:,} events in {time.perf_counter() - started:.1f}s")


def roll_up() -> None:
    """What the `events.count_roll_up` beat task does, run until it has caught up."""
    from apps.events.models import EventCount
    from apps.events.services import event_counts_roll_up

    started = time.perf_counter()
    while event_counts_roll_up(max_span=timedelta(days=30)):
        pass
    print(
        f"hourly counts: {EventCount.objects.count():,} rows"
        f" (roll-up caught up in {time.perf_counter() - started:.1f}s)"
    )


def measure(client, path: str, headers: dict, requests: int) -> list[float]:
    for _ in range(3):
        client.get(path, **headers)
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, **headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.content[:200])
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.http import JsonResponse
    from django.test import Client
    from django.urls import clear_url_caches, path

    from apps.accounts.services import token_issue
    from codeai import urls

    call_command("migrate", verbosity=0)
    fill(args.events)
    roll_up()

    # The baseline: a bare Django view through the same middleware and client.
    urls.urlpatterns.append(path("bench-bare", lambda request: JsonResponse({"ok": True})))
    clear_url_caches()

    token = token_issue(subject="bench", roles=["viewer"], ttl=timedelta(hours=1))
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    client = Client()
    week_ago = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cases = [
        ("bare Django view (baseline)", "/bench-bare"),
        ("GET /events", "/events"),
        ("GET /events?type=job.failed", "/events?type=job.failed"),
        ("GET /events?source=notifier", "/events?source=notifier"),
        ("GET /events?start_time=<7 days ago>", f"/events?start_time={week_ago}"),
        ("GET /events?offset=10000", "/events?offset=10000"),
        ("GET /events/stats", "/events/stats"),
        ("GET /events/stats?type=job.failed", "/events/stats?type=job.failed"),
        ("GET /events/stats?start_time=<7 days ago>", f"/events/stats?start_time={week_ago}"),
    ]
    results = [(label, measure(client, url, headers, args.requests)) for label, url in cases]
    baseline = statistics.median(results[0][1])
    print(f"\n{args.events:,} events, {args.requests} requests each, in-process Django client")
    print(f"{os.cpu_count()} CPUs; load average at the end {os.getloadavg()[0]:.1f}\n")
    print(f"{'endpoint':<44} {'p50 ms':>8} {'p99 ms':>8} {'x bare':>8} {'p50<100':>8}")
    for label, samples in results:
        p50, p99 = statistics.median(samples), percentile(samples, 0.99)
        ok = "" if label.startswith("bare") else ("yes" if p50 < 100 else "NO")
        print(f"{label:<44} {p50:>8.1f} {p99:>8.1f} {p50 / baseline:>8.1f} {ok:>8}")


if __name__ == "__main__":
    main()
