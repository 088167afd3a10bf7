"""Jobs benchmark: throughput and enqueue→start latency of `echo` jobs, against a raw Celery
no-op task on the same broker and the same worker, measured in the same run.

    createdb -h 127.0.0.1 -U postgres codeai_bench   # once; the script migrates it
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/codeai_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/jobs.py

One `celery -A codeai worker` process (prefork, `--concurrency`, default 2 as in the Procfile)
consumes private queues; every message of the run lands there, so the job numbers include all
the work a job creates (its three events, enqueued, started and completed, are written in the
job's own transactions; with no webhook subscribed they cause no further message).

- End-to-end: N raw messages published, or N jobs submitted through `job_create` (one
  transaction each, as the API does) from `--submitters` threads, while the worker consumes;
  rate = N / (last completion - first submit).
- Worker drain: N messages or jobs submitted first to a queue the worker does not consume
  yet; then the worker starts consuming it (add_consumer); rate = N / (last completion - first
  start): what one worker does with a backlog, submission cost excluded.
- Latency: one at a time on an idle worker; submit time (bench clock) → start time recorded by
  the worker (raw: the task body; jobs: `started_at`, written when the attempt is claimed).

Targets: jobs throughput ≥ 50 % of raw, p50 latency < 25 ms. Not part of the test suite.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUN = os.environ.setdefault("BENCH_RUN", uuid.uuid4().hex[:8])
QUEUE, DRAIN_QUEUE = f"bench-{RUN}", f"bench-{RUN}-drain"
# This process and its worker: every task goes to the bench queues.
os.environ["CODEAI_QUEUES"] = f"{QUEUE} {DRAIN_QUEUE}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codeai.settings")

from codeai.celery import app  # noqa: E402


@app.task(name="bench.noop", ignore_result=True)
def noop(sent_at: float, path: str) -> None:
    """The raw baseline: record when it ran, nothing else."""
    with open(path, "a") as f:
        f.write(f"{sent_at} {time.time()}\n")


class Worker:
    def __init__(self, concurrency: int):
        self.hostname = f"bench-{RUN}@{socket.gethostname()}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "codeai",
                "worker",
                "--include",
                "bench.jobs",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--queues",
                QUEUE,
                "--hostname",
                self.hostname,
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env={**os.environ, "CODEAI_LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(self.ping, seconds=60, interval=0.1)

    def ping(self) -> bool:
        if self.process.poll() is not None:
            raise SystemExit("the worker exited")
        return bool(app.control.ping(destination=[self.hostname], timeout=0.5))

    def consume_drain_queue(self, on: bool) -> None:
        control = app.control.add_consumer if on else app.control.cancel_consumer
        control(DRAIN_QUEUE, destination=[self.hostname])

    def stop(self) -> None:
        self.process.terminate()  # warm shutdown of the main process; it stops its pool
        self.process.wait(60)


def wait_until(predicate, seconds: float = 300, interval: float = 0.001):
    deadline = time.monotonic() + seconds
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the worker")
        time.sleep(interval)
    return value


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def in_threads(count: int, threads: int, submit) -> None:
    """submit(i) for i in range(count), spread over `threads` threads (like web workers)."""
    from django.db import connections

    def work(start: int) -> None:
        try:
            for index in range(start, count, threads):
                submit(index)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))


# --- Raw Celery -----------------------------------------------------------------------------------


class Raw:
    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="bench-")) / "raw.log"

    def runs(self) -> list[tuple[float, float]]:
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        return [(float(a), float(b)) for a, b in (line.split() for line in lines if line)]

    def submit(self, queue: str) -> None:
        noop.apply_async((time.time(), str(self.path)), queue=queue)

    def end_to_end(self, count: int, threads: int) -> float:
        self.path.unlink(missing_ok=True)
        started = time.time()
        in_threads(count, threads, lambda i: self.submit(QUEUE))
        wait_until(lambda: len(self.runs()) >= count, interval=0.01)
        return count / (max(ran for _, ran in self.runs()) - started)

    def drain(self, worker: Worker, count: int) -> float:
        self.path.unlink(missing_ok=True)
        for _ in range(count):
            self.submit(DRAIN_QUEUE)
        worker.consume_drain_queue(True)
        wait_until(lambda: len(self.runs()) >= count, interval=0.01)
        worker.consume_drain_queue(False)
        ran = [ran for _, ran in self.runs()]
        return count / (max(ran) - min(ran))

    def latencies(self, samples: int) -> list[float]:
        self.path.unlink(missing_ok=True)
        result = []
        for index in range(samples):
            sent = time.time()
            noop.apply_async((sent, str(self.path)), queue=QUEUE)
            runs = wait_until(lambda n=index + 1: len(runs := self.runs()) >= n and runs)
            result.append((runs[index][1] - sent) * 1000)
        return result


# --- Jobs ---------------------------------------------------------------------------------------


class Jobs:
    @staticmethod
    def submit(index: int, queue: str) -> str:
        from apps.jobs.services import job_create

        return job_create(task_type="echo", payload={"i": index}, queue=queue).id

    @staticmethod
    def completed(ids: list[str]):
        from apps.jobs.models import Job

        return Job.objects.filter(pk__in=ids, status="completed")

    @staticmethod
    def completed_in(queue: str):
        from apps.jobs.models import Job

        return Job.objects.filter(queue=queue, status="completed")

    def last_completion(self, ids: list[str], queue: str, before: int) -> float:
        """Wait for `ids`, polling a count by queue: the ids in an IN list, every 50 ms, made a
        query heavy enough to slow the worker being timed."""
        from django.db.models import Max

        wait_until(lambda: self.completed_in(queue).count() >= before + len(ids), interval=0.05)
        return self.completed(ids).aggregate(last=Max("completed_at"))["last"].timestamp()

    def end_to_end(self, count: int, threads: int) -> float:
        ids: list[str] = []
        before = self.completed_in(QUEUE).count()
        started = time.time()
        in_threads(count, threads, lambda i: ids.append(self.submit(i, QUEUE)))
        return count / (self.last_completion(ids, QUEUE, before) - started)

    def drain(self, worker: Worker, count: int) -> float:
        from django.db.models import Min

        before = self.completed_in(DRAIN_QUEUE).count()
        ids = [self.submit(i, DRAIN_QUEUE) for i in range(count)]
        worker.consume_drain_queue(True)
        last = self.last_completion(ids, DRAIN_QUEUE, before)
        worker.consume_drain_queue(False)
        first = self.completed(ids).aggregate(first=Min("started_at"))["first"].timestamp()
        return count / (last - first)

    def latencies(self, samples: int) -> list[float]:
        from apps.jobs.models import Job

        result = []
        for index in range(samples):
            sent = time.time()
            job_id = self.submit(index, QUEUE)
            row = Job.objects.filter(pk=job_id, started_at__isnull=False)
            started_at = wait_until(
                lambda row=row: row.values_list("started_at", flat=True).first()
            )
            result.append((started_at.timestamp() - sent) * 1000)
            wait_until(lambda job_id=job_id: self.completed([job_id]).exists())
        return result


def settle() -> None:
    """Wait until the worker is idle: both queues empty."""
    from apps.jobs.services import queue_depths

    wait_until(lambda: not any(queue_depths(queues=[QUEUE, DRAIN_QUEUE]).values()), interval=0.1)
    time.sleep(0.5)


def cleanup() -> None:
    from apps.events.models import Event
    from apps.jobs.models import Job

    for queue in (QUEUE, DRAIN_QUEUE):
        Event.objects.filter(data__queue=queue).delete()
        Job.objects.filter(queue=queue).delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="messages per throughput run")
    parser.add_argument("--samples", type=int, default=300, help="latency samples")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument("--submitters", type=int, default=2, help="threads submitting at once")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print(
        f"{connection.vendor} ({settings.DATABASES['default']['NAME']}), "
        f"broker {app.conf.broker_url.split('://')[0]}; one prefork worker, concurrency "
        f"{args.concurrency}; {args.submitters} submitter threads; {os.cpu_count()} CPUs "
        f"(load {os.getloadavg()[0]:.1f}); "
        f"N={args.jobs}, {args.samples} latency samples"
    )
    raw, jobs = Raw(), Jobs()
    worker = Worker(args.concurrency)
    try:
        raw.latencies(20), jobs.latencies(20)  # warm-up: connections, imports, caches
        measured = {}
        for name, measure in (
            ("raw end-to-end", lambda: raw.end_to_end(args.jobs, args.submitters)),
            ("jobs end-to-end", lambda: jobs.end_to_end(args.jobs, args.submitters)),
            ("raw drain", lambda: raw.drain(worker, args.jobs)),
            ("jobs drain", lambda: jobs.drain(worker, args.jobs)),
            ("raw latency", lambda: raw.latencies(args.samples)),
            ("jobs latency", lambda: jobs.latencies(args.samples)),
        ):
            settle()
            measured[name] = measure()
        results = {
            "end-to-end (per s)": (measured["raw end-to-end"], measured["jobs end-to-end"]),
            "worker drain (per s)": (measured["raw drain"], measured["jobs drain"]),
        }
        raw_latency, job_latency = measured["raw latency"], measured["jobs latency"]
    finally:
        worker.stop()
        cleanup()

    print(f"\n{'':24}{'raw celery':>12}{'echo jobs':>12}{'jobs/raw':>10}")
    for label, (raw_rate, job_rate) in results.items():
        print(f"{label:24}{raw_rate:>12.0f}{job_rate:>12.0f}{job_rate / raw_rate:>10.0%}")
    for label, fraction in (("latency p50 (ms)", 0.5), ("latency p99 (ms)", 0.99)):
        raw_ms, job_ms = percentile(raw_latency, fraction), percentile(job_latency, fraction)
        print(f"{label:24}{raw_ms:>12.2f}{job_ms:>12.2f}{job_ms / raw_ms:>9.1f}x")
    print("targets: jobs end-to-end >= 50% of raw; jobs latency p50 < 25 ms")


if __name__ == "__main__":
    main()
