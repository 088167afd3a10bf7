"""Workflows benchmark: a 10-step `echo` ai-pipeline against a chain of 10 raw Celery tasks, on
the same broker and the same worker, measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/codeai \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/workflows.py

One `celery -A codeai worker` process (prefork, `--concurrency`, default 2 as in the Procfile)
consumes a private queue; every message of the run lands there. Each run's events
(workflow.started/completed, one agent.executed per step) are written in the engine's own
transactions; with no webhook subscribed they cause no further message.

- Per-step time: one run at a time on an idle worker; (completion − submit) / 10. The raw
  baseline is a Celery `chain` of 10 no-op tasks (each task's completion publishes the next),
  the workflow is `workflow_start` (one transaction, as the API does) of a sequential pipeline of
  10 `echo` agents, completion being the run's `completed_at`. Overhead ratio = workflow / raw.
- Throughput: N runs (or N chains) submitted back to back; runs/s = N / (last done − first submit).
- The workflow is measured twice: as configured by default (a step's task takes the run's next
  step itself, eager dispatch) and with CODEAI_WORKFLOW_EAGER_SECONDS=0 (one message per step),
  each on its own worker started for it.

Target: per-step time ≤ 2× the raw chain's. Not part of the test suite.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUEUE = os.environ.setdefault("BENCH_QUEUE", f"bench-{uuid.uuid4().hex[:8]}")
os.environ["CODEAI_QUEUES"] = QUEUE  # every task of this process and of its worker uses it
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codeai.settings")

from celery import chain  # noqa: E402

from codeai.celery import app  # noqa: E402

STEPS = 10


@app.task(name="bench.chain_step", ignore_result=True)
def chain_step(index: int, path: str, sent_at: float) -> None:
    """The raw baseline: a no-op; the last of the chain records when it ran."""
    if index == STEPS - 1:
        with open(path, "a") as f:
            f.write(f"{sent_at} {time.time()}\n")


def start_worker(concurrency: int, eager: bool = True) -> subprocess.Popen:
    hostname = f"bench-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "codeai",
            "worker",
            "--include",
            "bench.workflows",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--queues",
            QUEUE,
            "--hostname",
            hostname,
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "CODEAI_LOG_LEVEL": "WARNING",
            **({} if eager else {"CODEAI_WORKFLOW_EAGER_SECONDS": "0"}),
        },
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[hostname], timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the worker did not start")
    return process


def wait_until(predicate, seconds: float = 600, interval: float = 0.02):
    """Poll gently: completion times are recorded by the worker, so the poll interval does not
    change what is measured, and a busy poll would steal CPU from the worker and the database."""
    deadline = time.monotonic() + seconds
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the worker")
        time.sleep(interval)
    return value


def raw_lines(path: Path) -> list[tuple[float, float]]:
    if not path.exists():
        return []
    return [tuple(map(float, line.split())) for line in path.read_text().splitlines() if line]


def send_chain(path: Path) -> None:
    sent = time.time()
    chain(
        *(chain_step.si(index, str(path), sent).set(queue=QUEUE) for index in range(STEPS))
    ).apply_async()


def raw_step_times(samples: int) -> list[float]:
    path = Path(tempfile.mktemp(prefix="bench-chain-"))
    times = []
    for index in range(samples):
        send_chain(path)
        lines = wait_until(lambda n=index + 1: len(lines := raw_lines(path)) >= n and lines)
        sent, done = lines[index]
        times.append((done - sent) * 1000 / STEPS)
    path.unlink()
    return times


def raw_throughput(count: int) -> float:
    path = Path(tempfile.mktemp(prefix="bench-chain-"))
    started = time.time()
    for _ in range(count):
        send_chain(path)
    wait_until(lambda: len(raw_lines(path)) >= count)
    finished = max(done for _, done in raw_lines(path))
    path.unlink()
    return count / (finished - started)


PIPELINE = {
    "agents": [{"name": f"step-{i}", "model": "echo", "prompt": f"p{i}"} for i in range(STEPS)]
}


def start_run(index: int) -> str:
    from apps.workflows.services import workflow_start

    run = workflow_start(
        workflow_id=f"{QUEUE}-{index}-{uuid.uuid4().hex[:6]}",
        workflow_type="ai-pipeline",
        input=PIPELINE,
        metadata={"bench": QUEUE},
    )
    return run.id


def workflow_step_times(samples: int, offset: int) -> list[float]:
    from apps.workflows.models import WorkflowRun

    times = []
    for index in range(samples):
        sent = time.time()
        run_id = start_run(offset + index)
        done = WorkflowRun.objects.filter(pk=run_id, status="completed").values_list
        completed_at = wait_until(lambda done=done: done("completed_at", flat=True).first())
        times.append((completed_at.timestamp() - sent) * 1000 / STEPS)
    return times


def workflow_throughput(count: int, offset: int) -> float:
    from django.db.models import Max

    from apps.workflows.models import WorkflowRun

    started = time.time()
    ids = [start_run(offset + i) for i in range(count)]
    done = WorkflowRun.objects.filter(pk__in=ids, status="completed")
    wait_until(lambda: done.count() >= count, interval=0.05)
    failed = WorkflowRun.objects.filter(pk__in=ids).exclude(status="completed").count()
    if failed:
        raise SystemExit(f"{failed} runs did not complete")
    return count / (done.aggregate(last=Max("completed_at"))["last"].timestamp() - started)


def cleanup() -> None:
    from apps.events.models import Event
    from apps.workflows.models import WorkflowRun

    WorkflowRun.objects.filter(workflow_id__startswith=QUEUE).delete()
    Event.objects.filter(metadata__bench=QUEUE).delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per throughput measurement")
    parser.add_argument("--samples", type=int, default=100, help="one-at-a-time samples")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print(
        f"database {connection.vendor} ({settings.DATABASES['default']['NAME']}), "
        f"broker {app.conf.broker_url.split('://')[0]}, queue {QUEUE}, "
        f"one prefork worker with concurrency {args.concurrency}, {STEPS} steps per run"
    )
    try:
        results = {
            "eager dispatch (default)": measure(args, eager=True, offset=0),
            "one message per step (CODEAI_WORKFLOW_EAGER_SECONDS=0)": measure(
                args, eager=False, offset=10_000
            ),
        }
    finally:
        cleanup()
    for title, (raw, flow, raw_rate, flow_rate) in results.items():
        print(f"\n{title}\n{'':30}{'raw chain':>12}{'workflow':>12}{'ratio':>9}")
        raw_p50, flow_p50 = statistics.median(raw), statistics.median(flow)
        print(
            f"{'per-step time p50 (ms)':30}{raw_p50:>12.2f}{flow_p50:>12.2f}"
            f"{flow_p50 / raw_p50:>8.2f}x (target <= 2x)"
        )
        raw_p90, flow_p90 = (statistics.quantiles(t, n=10)[-1] for t in (raw, flow))
        print(f"{'per-step time p90 (ms)':30}{raw_p90:>12.2f}{flow_p90:>12.2f}")
        print(
            f"{'10-step runs completed / s':30}{raw_rate:>12.1f}{flow_rate:>12.1f}"
            f"{flow_rate / raw_rate:>8.2f}x"
        )


def measure(args, *, eager: bool, offset: int) -> tuple[list[float], list[float], float, float]:
    """Raw chains and workflow runs on one worker started for this configuration."""
    worker = start_worker(args.concurrency, eager=eager)
    try:
        raw_step_times(10), workflow_step_times(10, offset=offset)  # warm-up
        raw = raw_step_times(args.samples)
        flow = workflow_step_times(args.samples, offset=offset + 100)
        raw_rate = raw_throughput(args.runs)
        flow_rate = workflow_throughput(args.runs, offset=offset + 1000)
    finally:
        stop_worker(worker)
    return raw, flow, raw_rate, flow_rate


def stop_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    worker.wait(60)


if __name__ == "__main__":
    main()
