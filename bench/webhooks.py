"""Webhook delivery throughput and event→delivery latency, against raw requests.post.

    .venv/bin/python bench/webhooks.py [--events 2000] [--rate 50] [--seconds 20]
                                       [--pool prefork] [--concurrency 4]

One Celery worker process (its own pool and concurrency) delivers to a local receiver
(ThreadingHTTPServer, HTTP/1.1 keep-alive, answers 200). Defaults: PostgreSQL database
`codeai_bench_webhooks` (BENCH_DATABASE_URL) and Redis db 15 (BENCH_BROKER_URL), so nothing
else on the machine consumes the bench's messages.

1. Baselines: raw `requests.post` of the same body to the same receiver, sequentially; and the
   worker's raw task rate (a backlog of near no-op tasks).
2. Throughput: N events emitted while the worker is stopped (each writes its delivery in its
   own transaction and queues one task), then the worker is started and timed until every
   delivery succeeded (claim + signing + POST + bookkeeping + its `webhook.triggered` event);
   then the same for deliveries created in bulk without events being emitted.
3. Latency: events emitted at a steady rate while the worker runs; latency is the receiver's
   arrival time minus the event's timestamp. Targets: ≥ 50 % of the raw rate, p99 < 250 ms.
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/codeai_bench_webhooks"
)
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.update(
    {
        "DATABASE_URL": DATABASE_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        "CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "CODEAI_LOG_LEVEL": "WARNING",
    }
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codeai.settings")

arrivals: dict[str, float] = {}
arrivals_lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle + the client's delayed
    # ACK add 40 ms to every response on a kept-alive connection (real servers avoid this).
    disable_nagle_algorithm = True

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        message_id = self.headers.get("webhook-id")
        if message_id:
            with arrivals_lock:
                arrivals.setdefault(message_id, time.time())
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def ensure_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def start_worker(pool: str, concurrency: int) -> subprocess.Popen:
    from codeai.celery import app

    worker = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "codeai",
            "worker",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if time.monotonic() > deadline or worker.poll() is not None:
            raise SystemExit("the worker did not start")
    return worker


def stop_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    worker.wait(timeout=60)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    ensure_database()
    import django

    django.setup()
    import redis
    import requests
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from apps.events.models import Event
    from apps.events.services import emit
    from apps.events.tasks import event_dispatch
    from apps.webhooks.models import Delivery, DeliveryAttempt, Webhook
    from apps.webhooks.services import delivery_create_for_event, delivery_enqueue, webhook_create
    from codeai.celery import app

    call_command("migrate", verbosity=0)
    app.control.purge()
    queue = redis.Redis.from_url(BROKER_URL)
    DeliveryAttempt.objects.all().delete()
    Delivery.objects.all().delete()
    Webhook.objects.all().delete()
    Event.objects.all().delete()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    webhook, _ = webhook_create(url=url, events=["job.completed"])

    # 1. Baseline: raw requests.post, sequential, same body size.
    body = b'{"type":"job.completed","timestamp":"2026-01-01T00:00:00.000000Z","data":{}}'
    raw_count = max(500, args.events // 2)
    started = time.perf_counter()
    for _ in range(raw_count):
        requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=15)
    raw_rate = raw_count / (time.perf_counter() - started)

    # 1b. Baseline: the worker's raw task rate (a near no-op task: one indexed SELECT).
    for _ in range(args.events):
        event_dispatch.delay("evt-none")
    worker = start_worker(args.pool, args.concurrency)
    started = time.perf_counter()
    while queue.llen("default"):
        time.sleep(0.01)
    task_rate = args.events / (time.perf_counter() - started)
    stop_worker(worker)

    # 2. Throughput: a backlog of events, then one worker drains it.
    for index in range(args.events):
        with transaction.atomic():
            emit(type="job.completed", source="bench", data={"n": index})
    worker = start_worker(args.pool, args.concurrency)
    started = time.perf_counter()
    try:
        while Delivery.objects.filter(webhook=webhook, status="succeeded").count() < args.events:
            time.sleep(0.05)
            if time.perf_counter() - started > 600:
                raise SystemExit("throughput phase did not finish in 10 minutes")
        drain_seconds = time.perf_counter() - started
        worker_rate = args.events / drain_seconds
        # 2b. Send path only: deliveries already created and queued, one task each.
        stop_worker(worker)
        events = Event.objects.bulk_create(
            Event(type="job.completed", source="bench", timestamp=timezone.now(), data={"n": n})
            for n in range(args.events)
        )
        queued = []
        for event in events:
            queued += delivery_create_for_event(event=event)
        Event.objects.filter(pk__in=[e.pk for e in events]).update(dispatched_at=timezone.now())
        for delivery_id in queued:
            delivery_enqueue(delivery_id=delivery_id)
        # Polled like phase 2 (not with the 2,000 ids in an IN list, a query heavy enough to
        # slow the worker it is timing).
        succeeded = Delivery.objects.filter(webhook=webhook, status="succeeded")
        target = succeeded.count() + len(queued)
        worker = start_worker(args.pool, args.concurrency)
        started = time.perf_counter()
        while succeeded.count() < target:
            time.sleep(0.05)
        send_rate = len(queued) / (time.perf_counter() - started)

        # 3. Latency at a steady rate.
        with arrivals_lock:
            arrivals.clear()
        emitted: list[Event] = []
        interval = 1.0 / args.rate
        next_at = time.perf_counter()
        for index in range(int(args.rate * args.seconds)):
            with transaction.atomic():
                emitted.append(emit(type="job.completed", source="bench", data={"i": index}))
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        deadline = time.monotonic() + 60
        while len(arrivals) < len(emitted) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop_worker(worker)
        server.shutdown()

    latencies = [
        (arrivals[event.id] - event.timestamp.timestamp()) * 1000
        for event in emitted
        if event.id in arrivals
    ]
    missing = len(emitted) - len(latencies)
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    print(f"\none worker: --pool {args.pool} --concurrency {args.concurrency}; broker {BROKER_URL}")
    print(f"{os.cpu_count()} CPUs; load average at the end {os.getloadavg()[0]:.1f}")
    rows = [
        ("raw requests.post, sequential (deliveries/s)", f"{raw_rate:.0f}", ""),
        ("raw Celery task, near no-op (tasks/s)", f"{task_rate:.0f}", ""),
        ("worker, emitted event→delivered (deliveries/s)", f"{worker_rate:.0f}", ""),
        ("  ratio to raw", f"{worker_rate / raw_rate:.2f}", ">= 0.50"),
        ("worker, bulk-created delivery→delivered (deliveries/s)", f"{send_rate:.0f}", ""),
        ("  ratio to raw", f"{send_rate / raw_rate:.2f}", ">= 0.50"),
        (f"latency p50 at {args.rate:g} events/s (ms)", f"{p50:.1f}", ""),
        (f"latency p99 at {args.rate:g} events/s (ms)", f"{p99:.1f}", "< 250"),
        ("latency max (ms)", f"{max(latencies):.1f}", ""),
        ("events not delivered within 60 s", f"{missing}", "0"),
    ]
    print(f"{'measure':<50} {'value':>10} {'target':>10}")
    for label, value, target in rows:
        print(f"{label:<50} {value:>10} {target:>10}")


if __name__ == "__main__":
    main()
