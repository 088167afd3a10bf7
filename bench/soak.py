"""Whole-system soak with fault injection: the real processes under a mixed API load, then a
reconciliation of every job, workflow run, execution, event and webhook delivery.

    .venv/bin/python bench/soak.py [--duration 300] [--faults] [--json summary.json]
    make soak DURATION=60 FAULTS=1

What it runs (subprocesses, logs in a temp dir that is kept when the verdict is FAIL):
gunicorn (`codeai.wsgi`, 2 workers x 4 threads, free port), two `celery -A codeai worker`
(every queue, distinct hostnames) and one `celery -A codeai beat` (DatabaseScheduler), on the
PostgreSQL database `--database-url` (created if missing, migrated and FLUSHED: its name must
contain "soak") and the Redis database `--redis-url` (FLUSHDB at start; not db 0). A local
receiver (ThreadingHTTPServer) verifies every Standard Webhooks signature, records each
`webhook-id`, and can answer 500 for a while. Two webhooks point at it: one for every event
type, one for the `job.*` types. The credential is an admin JWT (`token_issue`, what
`manage.py issue_token` prints) sent as `Authorization: Bearer`.

Load (a separate process, `--threads` threads, each with a requests.Session, paced to `--rate`
requests/s): config create + validate, deployment create + execute (and re-executes), `echo`
jobs now and a few seconds ahead (some of those cancelled), a few `* * * * *` recurring jobs
cancelled 70-150 s later, `echo` ai-pipelines (some cancelled at once), and reads of events,
stats, jobs, workflows, executions and deliveries. Every request is recorded: endpoint
template, status (0 = connection error, -1 = timeout), latency.

Faults (`--faults`, or a subset with `--only-faults`), at 15 %, 35 %, 55 % and 70 % of the
load: restart Redis (`shutdown nosave`, 2 s down, started again as .ci/run does: nothing
survives, queued and reserved messages are lost), SIGKILL one worker's process group and start
a replacement, crash-restart PostgreSQL (`pg_ctlcluster -m immediate ... restart`), and make the
receiver answer 500 for 30 s. A supervisor thread plays the process manager: a process that
exits on its own is restarted, a worker silent for 60 s is replaced; each such incident is
reported and fails the verdict (the system must survive the faults by itself).

Drain (at most `--drain` seconds): until no job, run, execution or delivery is open and no
event is undispatched. Then the verdict, from the database and the receiver:
- every job accepted with 201, and every job row (recurring runs included), is final; recurring
  parents are cancelled; every workflow run is closed; every execution finished and every
  executed deployment is complete or failed;
- every event of a subscribed type reached its webhook at least once (a 2xx answer), counted
  once per (webhook, webhook-id); duplicates are counted apart (at-least-once, docs/webhooks.md);
  no delivery is open or failed; every received signature verified; every body's id is its
  webhook-id;
- no API answer >= 500 and no connection error, except inside an infrastructure fault window
  (Redis or PostgreSQL down, from the fault's start until 5 s after the service answers
  again), where they are counted apart; no status outside each endpoint's expected set;
- no process crashed or hung (no supervisor incident), and all still run at the end.
Exit status 1 on FAIL. Redis and PostgreSQL are running again when the script exits, whatever
happened; every process it started is stopped (process groups).

Sweep timings are shortened where a setting allows (SOAK_ENV) so that what a fault loses is
recovered within the drain.
Figures and the policy: docs/reliability.md.
"""

import argparse
import atexit
import contextlib
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/codeai_soak"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
RECEIVER_OUTAGE_SECONDS = 30.0
# Redis stays down this long: a service restart is not instantaneous.
REDIS_DOWN_SECONDS = 2.0
# API errors this long after an infrastructure fault's service answers again still count as its.
FAULT_GRACE_SECONDS = 5.0
# A job, delivery, run or execution this late was recovered by a sweep (its message was lost).
LATE_SECONDS = 20.0
SOAK_ENV = {
    "CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    "CODEAI_JOB_HTTP_ALLOW_PRIVATE_URLS": "true",
    "CODEAI_WORKFLOW_HTTP_ALLOW_PRIVATE_URLS": "true",
    # 68 s of attempts in all (±20 % jitter): outlasts the 30 s receiver outage.
    "CODEAI_WEBHOOK_RETRY_SCHEDULE": "0s 1s 2s 5s 10s 20s 30s",
    "CODEAI_WEBHOOK_TIMEOUT_SECONDS": "5",
    # Recovery of lost messages within the drain, instead of 15 min / 5 min / 1 min.
    "CODEAI_JOB_REQUEUE_AFTER_SECONDS": "30",
    "CODEAI_WORKFLOW_RESEND_AFTER_SECONDS": "30",
    "CODEAI_EXECUTION_REQUEUE_AFTER_SECONDS": "30",
    "CODEAI_EVENT_OUTBOX_DELAY_SECONDS": "15",
    "CODEAI_WEBHOOK_REQUEUE_AFTER_SECONDS": "30",
    "CODEAI_LOG_LEVEL": "INFO",
}
PROGRAM = 'var who = "soak"\nprint("hello from the soak")\nprint(who)\n'
# Per write endpoint; every GET expects 200.
EXPECTED_STATUSES = {
    "POST /configs": {201},
    "POST /configs/{id}/validate": {200},
    "POST /deployments": {201},
    # 409: the deployment's previous execution is still running (a re-execute).
    "POST /deployments/{id}/execute": {202, 409},
    "POST /jobs": {201},
    "POST /jobs/schedule": {201},
    "POST /jobs/recurring": {201},
    # 409: already finished (a scheduled job that ran first, a cancel repeated after an error).
    "DELETE /jobs/{id}": {204, 409},
    "POST /workflows": {202},
    "POST /workflows/{id}/cancel": {200, 409},
}
CONNECTION_ERROR, TIMEOUT = 0, -1  # recorded as the status of a request that got no answer


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, seconds: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:
            pass
        time.sleep(interval)
    return False


# --- Infrastructure: PostgreSQL and Redis on this machine -----------------------------------------


class Infrastructure:
    """The machine's PostgreSQL cluster and redis-server: checks, restarts, and `ensure_up`."""

    def __init__(self, database_url: str, redis_url: str):
        import dj_database_url
        import redis

        db = dj_database_url.parse(database_url)
        self.pg_host, self.pg_port = db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)
        kwargs = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
        self.redis_host, self.redis_port = kwargs.get("host", "127.0.0.1"), kwargs.get("port", 6379)
        self.redis_db = kwargs.get("db", 0)

    # PostgreSQL
    def pg_up(self) -> bool:
        with contextlib.suppress(OSError):
            socket.create_connection((self.pg_host, self.pg_port), 1).close()
            result = subprocess.run(
                ["pg_isready", "-q", "-h", self.pg_host, "-p", str(self.pg_port)],
                timeout=5,
                check=False,
            )
            return result.returncode == 0
        return False

    def pg_cluster(self) -> tuple[str, str] | None:
        """(version, name) of the local cluster on our port, as `pg_lsclusters` lists it."""
        if not shutil.which("pg_ctlcluster") or not shutil.which("pg_lsclusters"):
            return None
        listing = subprocess.run(
            ["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
        for line in listing.splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2] == str(self.pg_port):
                return fields[0], fields[1]
        return None

    def pg_ctl(self, action: str, mode: str = "fast") -> None:
        cluster = self.pg_cluster()
        if cluster is None:
            raise RuntimeError("no local PostgreSQL cluster on this port (pg_lsclusters)")
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", "-m", mode, *cluster, action],
            check=True,
            timeout=120,
            capture_output=True,
        )

    # Redis
    def redis_up(self) -> bool:
        result = subprocess.run(
            ["redis-cli", "-h", self.redis_host, "-p", str(self.redis_port), "ping"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return "PONG" in result.stdout

    def redis_stop(self) -> None:
        subprocess.run(
            ["redis-cli", "-h", self.redis_host, "-p", str(self.redis_port), "shutdown", "nosave"],
            capture_output=True,
            timeout=10,
            check=False,
        )

    def redis_start(self) -> None:
        """Start it the way .ci/run does: no persistence, so a restart loses every message."""
        Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
        Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "-::1",
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                "/var/lib/redis",
                "--logfile",
                "/var/log/redis/ci.log",
            ],
            check=True,
            timeout=30,
            capture_output=True,
        )

    def redis_restartable(self) -> bool:
        local = self.redis_host in ("127.0.0.1", "localhost", "::1")
        return local and bool(shutil.which("redis-server") and shutil.which("redis-cli"))

    def ensure_up(self) -> None:
        """Called on every exit path: PostgreSQL and Redis must be running when we leave."""
        if not self.pg_up():
            log("PostgreSQL is down: starting it")
            with contextlib.suppress(Exception):
                self.pg_ctl("start")
            if not wait_for(self.pg_up, 60):
                log("WARNING: PostgreSQL did not come back")
        if not self.redis_up() and self.redis_restartable():
            log("Redis is down: starting it")
            with contextlib.suppress(Exception):
                self.redis_start()
            if not wait_for(self.redis_up, 30):
                log("WARNING: Redis did not come back")


# --- The system under test: web, workers, beat ----------------------------------------------------


class Service:
    """One subprocess in its own process group, output appended to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path):
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: the main process and every child, mid-task."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def stop(self, seconds: float = 20) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(seconds)
        self.kill()  # whatever is left of the group (pool children, gunicorn workers)
        self._log.close()


class System:
    """Web, workers and beat, plus a supervisor thread that does what a process manager would:
    a process that exits unexpectedly is restarted, and a worker that is alive but has not
    answered a ping for HUNG_AFTER seconds is killed and replaced. Each such event is recorded
    (and fails the verdict): the system is expected to survive every fault by itself."""

    HUNG_AFTER = 60.0

    def __init__(self, env: dict[str, str], logdir: Path, concurrency: int, start: float):
        self.env, self.logdir, self.concurrency = env, logdir, concurrency
        self.started = start
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.services: list[Service] = []
        self.web: Service | None = None
        self.beat: Service | None = None
        self.workers: list[tuple[str, Service]] = []  # (hostname, service)
        self.lock = threading.RLock()
        self.incidents: list[dict[str, Any]] = []
        self._worker_count = 0
        self._stopping = threading.Event()
        self._silent_since: dict[str, float] = {}

    def _start(self, name: str, argv: list[str]) -> Service:
        service = Service(name, [sys.executable, "-m", *argv], self.env, self.logdir)
        self.services.append(service)
        return service

    def _start_web(self) -> Service:
        options = "--workers 2 --threads 4 --timeout 60 --graceful-timeout 15 --keep-alive 60"
        bind = f"127.0.0.1:{self.port}"
        return self._start("web", ["gunicorn", "codeai.wsgi", "--bind", bind, *options.split()])

    def _start_beat(self) -> Service:
        scheduler = "django_celery_beat.schedulers:DatabaseScheduler"
        pidfile = str(self.logdir / "beat.pid")  # not celerybeat.pid in the checkout
        argv = ["celery", "-A", "codeai", "beat", "--loglevel", "INFO", "--scheduler", scheduler]
        return self._start("beat", [*argv, "--pidfile", pidfile])

    def start(self) -> None:
        import requests

        self.web = self._start_web()
        for _ in range(2):
            self.start_worker()
        self.beat = self._start_beat()
        if not wait_for(
            lambda: requests.get(f"{self.base_url}/health/ready", timeout=2).status_code == 200,
            90,
        ):
            raise SystemExit(f"web not ready; see {self.web.log_path}")
        for hostname, _ in self.workers:
            if not self.wait_worker(hostname, 90):
                raise SystemExit(f"worker {hostname} not ready; see {self.logdir}")
        threading.Thread(target=self._supervise, daemon=True, name="supervisor").start()

    def start_worker(self) -> str:
        with self.lock:
            self._worker_count += 1
            name = f"worker{self._worker_count}"
            hostname = f"soak-{name}@{socket.gethostname()}"
            argv = ["celery", "-A", "codeai", "worker", "--loglevel", "INFO"]
            argv += ["--concurrency", str(self.concurrency), "--hostname", hostname]
            self.workers.append((hostname, self._start(name, argv)))
            self._silent_since.pop(hostname, None)
            return hostname

    def take_worker(self) -> tuple[str, Service]:
        """The oldest worker, no longer supervised (a fault is about to kill it)."""
        with self.lock:
            return self.workers.pop(0)

    @staticmethod
    def wait_worker(hostname: str, seconds: float) -> bool:
        from codeai.celery import app

        return wait_for(
            lambda: bool(app.control.ping(destination=[hostname], timeout=1.0)), seconds, 0.5
        )

    def _incident(self, service: Service, what: str) -> None:
        reason = last_error_line(service.log_path)
        at = round(time.time() - self.started, 1)
        self.incidents.append({"service": service.name, "at_s": at, "what": what, "log": reason})
        log(f"INCIDENT {service.name} {what} at +{at}s: {reason}")

    def _supervise(self) -> None:
        from codeai.celery import app

        next_ping = 0.0
        while not self._stopping.wait(1.0):
            with self.lock:
                if self.web and not self.web.alive():
                    self._incident(self.web, f"exited ({self.web.process.returncode})")
                    self.web = self._start_web()
                if self.beat and not self.beat.alive():
                    self._incident(self.beat, f"exited ({self.beat.process.returncode})")
                    self.beat = self._start_beat()
                for hostname, service in list(self.workers):
                    if not service.alive():
                        self._incident(service, f"exited ({service.process.returncode})")
                        self.workers.remove((hostname, service))
                        self.start_worker()
            if time.time() < next_ping:
                continue
            next_ping = time.time() + 5
            try:
                answered = {name for reply in app.control.ping(timeout=2.0) for name in reply}
            except Exception:
                continue  # broker down: no verdict on anyone
            now = time.time()
            with self.lock:
                for hostname, service in list(self.workers):
                    if hostname in answered:
                        self._silent_since.pop(hostname, None)
                        continue
                    since = self._silent_since.setdefault(hostname, now)
                    if now - since >= self.HUNG_AFTER and service.alive():
                        self._incident(service, f"alive but silent for {now - since:.0f}s")
                        service.kill()
                        self.workers.remove((hostname, service))
                        self.start_worker()

    def dead(self) -> list[str]:
        with self.lock:
            running = [self.web, self.beat, *(service for _, service in self.workers)]
        return [service.name for service in running if service and not service.alive()]

    def stop(self) -> None:
        self._stopping.set()
        for service in reversed(self.services):
            with contextlib.suppress(Exception):
                service.stop()


def last_error_line(path: Path) -> str:
    """The last CRITICAL (else ERROR) message of a JSON log: what made a process stop."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for level in ('"CRITICAL"', '"ERROR"'):
        for line in reversed(lines):
            if level in line:
                with contextlib.suppress(ValueError):
                    return json.loads(line).get("message", "")[:200]
                return line[:200]
    return lines[-1][:200] if lines else ""


# --- The webhook receiver -------------------------------------------------------------------------


class Receiver:
    """Records every request per (webhook, webhook-id); answers 500 while `fail_until` is ahead."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.verifiers: dict[str, Any] = {}  # path name -> standardwebhooks.Webhook
        self.accepted: dict[tuple[str, str], list[float]] = defaultdict(list)  # 2xx times
        self.types: dict[tuple[str, str], str] = {}
        self.refused = 0  # answered 500 (outage)
        self.bad_signatures: list[str] = []
        self.id_mismatches: list[str] = []
        self.unknown_paths = 0
        self.fail_until = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.receive(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, hook: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{hook}"

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        from standardwebhooks import Webhook as Verifier

        hook = path.rsplit("/", 1)[-1]
        verifier: Verifier | None = self.verifiers.get(hook)
        message_id = {k.lower(): v for k, v in headers.items()}.get("webhook-id", "")
        if verifier is None:
            with self.lock:
                self.unknown_paths += 1
            return 404
        try:
            payload = verifier.verify(body, headers)
        except Exception as exc:
            with self.lock:
                self.bad_signatures.append(f"{hook} {message_id}: {exc}")
            return 400
        if time.time() < self.fail_until:
            with self.lock:
                self.refused += 1
            return 500
        key = (hook, message_id)
        with self.lock:
            if payload.get("id") != message_id:
                self.id_mismatches.append(f"{hook} {message_id} body id {payload.get('id')}")
            self.accepted[key].append(time.time())
            self.types[key] = payload.get("type", "")
        return 200

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- The load (a separate process) ----------------------------------------------------------------


class Load:
    """Threads driving the API like users would; every request recorded."""

    def __init__(self, config: dict[str, Any]):
        self.base = config["base_url"]
        self.token = config["token"]
        self.hooks = config["hook_ids"]
        self.stop_at = config["stop_at"]
        self.interval = config["threads"] / config["rate"]
        self.recurring_total = config["recurring"]
        self.lock = threading.Lock()
        self.records: list[tuple[float, str, int, float]] = []
        self.jobs: list[tuple[str, str]] = []  # (id, kind)
        self.workflows: list[str] = []
        self.executions: list[str] = []
        self.deployments: list[str] = []
        self.recurring: dict[str, float] = {}  # id -> cancel at (time.time())
        self.recurring_created = 0
        self.recurring_cancel_failed: list[str] = []
        self.recent_jobs: deque[str] = deque(maxlen=200)
        self.local = threading.local()

    def session(self):
        import requests

        session = requests.Session()
        session.headers.update(
            {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        )
        return session

    def call(
        self, session, method: str, template: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        import requests

        started = time.time()
        clock = time.perf_counter()
        try:
            response = session.request(
                method,
                self.base + path,
                data=json.dumps(body) if body is not None else None,
                timeout=(3.05, 30),
            )
            status = response.status_code
            try:
                data = response.json() if response.content else None
            except ValueError:
                data = None
        except requests.Timeout:
            status, data = TIMEOUT, None
        except requests.RequestException:
            status, data = CONNECTION_ERROR, None
        elapsed = (time.perf_counter() - clock) * 1000
        self.local.calls = getattr(self.local, "calls", 0) + 1
        with self.lock:
            self.records.append((started, template, status, elapsed))
        return status, data

    # Actions -----------------------------------------------------------------------------------

    def job_now(self, s, rng: random.Random) -> None:
        status, data = self.call(
            s, "POST", "POST /jobs", "/jobs", {"task_type": "echo", "payload": {"n": rng.random()}}
        )
        if status == 201:
            with self.lock:
                self.jobs.append((data["id"], "now"))
                self.recent_jobs.append(data["id"])

    def job_scheduled(self, s, rng: random.Random) -> None:
        at = time.time() + rng.uniform(2, 8)
        body = {
            "task_type": "echo",
            "payload": {"scheduled": True},
            "schedule_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
            + f".{int(at % 1 * 1e6):06d}Z",
        }
        status, data = self.call(s, "POST", "POST /jobs/schedule", "/jobs/schedule", body)
        if status == 201:
            with self.lock:
                self.jobs.append((data["id"], "scheduled"))
                self.recent_jobs.append(data["id"])
            if rng.random() < 0.15:
                self.call(s, "DELETE", "DELETE /jobs/{id}", f"/jobs/{data['id']}")

    def recurring_maintain(self, s, rng: random.Random) -> None:
        """Thread 0: a few `* * * * *` jobs, each cancelled 70-150 s after it was created."""
        now = time.time()
        for job_id, cancel_at in list(self.recurring.items()):
            if now >= cancel_at:
                status, _ = self.call(s, "DELETE", "DELETE /jobs/{id}", f"/jobs/{job_id}")
                if status in (204, 409):
                    self.recurring.pop(job_id)
        if self.recurring_created < self.recurring_total and len(self.recurring) < 3:
            body = {"task_type": "echo", "payload": {"recurring": True}, "cron_spec": "* * * * *"}
            status, data = self.call(s, "POST", "POST /jobs/recurring", "/jobs/recurring", body)
            if status == 201:
                self.recurring_created += 1
                self.recurring[data["id"]] = now + rng.uniform(70, 150)
                with self.lock:
                    self.jobs.append((data["id"], "recurring"))

    def config_and_deploy(self, s, rng: random.Random) -> None:
        name = f"soak-{uuid.uuid4().hex[:12]}"
        status, config = self.call(
            s, "POST", "POST /configs", "/configs", {"name": name, "content": PROGRAM}
        )
        if status != 201:
            return
        config_id = config["id"]
        self.call(s, "POST", "POST /configs/{id}/validate", f"/configs/{config_id}/validate", {})
        status, deployment = self.call(
            s, "POST", "POST /deployments", "/deployments", {"name": name, "config_id": config_id}
        )
        if status != 201:
            return
        self.execute(s, deployment["id"], rng)
        with self.lock:
            self.deployments.append(deployment["id"])

    def execute(self, s, deployment_id: str, rng: random.Random) -> None:
        status, execution = self.call(
            s,
            "POST",
            "POST /deployments/{id}/execute",
            f"/deployments/{deployment_id}/execute",
            {"variables": {"who": f"run-{rng.randrange(1000)}"}},
        )
        if status == 202:
            with self.lock:
                self.executions.append(execution["id"])

    def re_execute(self, s, rng: random.Random) -> None:
        with self.lock:
            deployment_id = rng.choice(self.deployments) if self.deployments else None
        if deployment_id:
            self.execute(s, deployment_id, rng)

    def workflow(self, s, rng: random.Random) -> None:
        workflow_id = f"soak-{uuid.uuid4().hex[:12]}"
        agents = [
            {"name": f"a{i}", "model": "echo", "prompt": f"step {i}", "timeout": "20s"}
            for i in range(rng.randint(1, 3))
        ]
        body = {
            "workflowId": workflow_id,
            "workflowType": "ai-pipeline",
            "input": {"agents": agents},
        }
        status, _ = self.call(s, "POST", "POST /workflows", "/workflows", body)
        if status != 202:
            return
        with self.lock:
            self.workflows.append(workflow_id)
        if rng.random() < 0.3:
            self.call(
                s,
                "POST",
                "POST /workflows/{id}/cancel",
                f"/workflows/{workflow_id}/cancel",
                {"reason": "soak"},
            )

    def read(self, s, rng: random.Random) -> None:
        choice = rng.randrange(9)
        if choice == 0:
            self.call(s, "GET", "GET /events", "/events?limit=20")
        elif choice == 1:
            self.call(s, "GET", "GET /events/stats", "/events/stats")
        elif choice == 2:
            self.call(s, "GET", "GET /jobs", "/jobs?limit=20")
        elif choice == 3:
            self.call(s, "GET", "GET /jobs/stats", "/jobs/stats")
        elif choice == 4:
            self.call(s, "GET", "GET /workflows", "/workflows?limit=20")
        elif choice == 5:
            hook = rng.choice(self.hooks)
            path = f"/webhooks/{hook}/deliveries?limit=20"
            self.call(s, "GET", "GET /webhooks/{id}/deliveries", path)
        elif choice == 6:
            self.call(s, "GET", "GET /executions", "/executions?limit=20")
        elif choice == 7:
            self.call(s, "GET", "GET /events", "/events?type=job.completed&limit=5")
        else:
            with self.lock:
                job_id = rng.choice(self.recent_jobs) if self.recent_jobs else None
            if job_id:
                self.call(s, "GET", "GET /jobs/{id}", f"/jobs/{job_id}")

    ACTIONS = (
        ("job_now", 30),
        ("job_scheduled", 12),
        ("workflow", 12),
        ("config_and_deploy", 6),
        ("re_execute", 3),
        ("read", 37),
    )

    def thread_main(self, index: int, seed: int) -> None:
        rng = random.Random(seed * 100 + index)
        names, weights = zip(*self.ACTIONS, strict=True)
        session = self.session()
        next_at = time.monotonic()
        while time.time() < self.stop_at:
            # Paced per request, not per action: a multi-request action spends several slots.
            before = getattr(self.local, "calls", 0)
            if index == 0:
                self.recurring_maintain(session, rng)
            getattr(self, rng.choices(names, weights)[0])(session, rng)
            spent = max(1, self.local.calls - before) if hasattr(self.local, "calls") else 1
            next_at = max(next_at + spent * self.interval, time.monotonic() - self.interval)
            time.sleep(max(0.0, next_at - time.monotonic()))
        if index == 0:
            self.cancel_remaining_recurring(session)

    def cancel_remaining_recurring(self, session) -> None:
        for _ in range(5):
            for job_id in list(self.recurring):
                status, _ = self.call(session, "DELETE", "DELETE /jobs/{id}", f"/jobs/{job_id}")
                if status in (204, 409):
                    self.recurring.pop(job_id)
            if not self.recurring:
                return
            time.sleep(2)
        self.recurring_cancel_failed = list(self.recurring)


def load_main(config: dict[str, Any]) -> None:
    """The load process: `threads` threads until `stop_at`, then the results as JSON."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    load = Load(config)
    threads = [
        threading.Thread(target=load.thread_main, args=(i, config["seed"]), daemon=True)
        for i in range(config["threads"])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = {
        "records": load.records,
        "jobs": load.jobs,
        "workflows": load.workflows,
        "executions": load.executions,
        "recurring_cancel_failed": load.recurring_cancel_failed,
    }
    Path(config["out"]).write_text(json.dumps(result))


# --- Faults ---------------------------------------------------------------------------------------


class Faults(threading.Thread):
    """Runs the fault plan against the load's clock; each fault records what it did and saw."""

    NAMES = ("redis-restart", "worker-kill", "postgres-restart", "receiver-500")

    def __init__(
        self,
        infra: Infrastructure,
        system: System,
        receiver: Receiver,
        start: float,
        duration: float,
        only: list[str] | None = None,
    ):
        super().__init__(daemon=True, name="faults")
        self.infra, self.system, self.receiver = infra, system, receiver
        self.start_time = start
        self.plan = [
            (0.15 * duration, "redis-restart", self.redis_restart),
            (0.35 * duration, "worker-kill", self.worker_kill),
            (0.55 * duration, "postgres-restart", self.postgres_restart),
            (0.70 * duration, "receiver-500", self.receiver_outage),
        ]
        self.plan = [step for step in self.plan if not only or step[1] in only]
        self.records: list[dict[str, Any]] = []
        self.cancelled = threading.Event()  # set on exit: no fault starts during the cleanup

    def run(self) -> None:
        for at, name, inject in self.plan:
            if self.cancelled.wait(max(0.0, self.start_time + at - time.time())):
                return
            record: dict[str, Any] = {
                "fault": name,
                "at_s": round(time.time() - self.start_time, 1),
            }
            started = time.time()
            record["start"] = started
            try:
                record.update(inject())
            except Exception as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
                log(f"fault {name} could not be injected: {record['error']}")
            record.setdefault("recovered", time.time())
            self.records.append(record)
            log(f"fault {name}: {record.get('action', '')}; {record.get('observed', '')}")

    def _workers_answer(self, seconds: float) -> float | None:
        """Seconds until every current worker (the supervisor may replace some) answers a ping."""
        from codeai.celery import app

        started = time.time()

        def all_answer() -> bool:
            with self.system.lock:
                hostnames = {hostname for hostname, _ in self.system.workers}
            replies = app.control.ping(destination=list(hostnames), timeout=1.0)
            return hostnames <= {name for reply in replies for name in reply}

        return time.time() - started if wait_for(all_answer, seconds, 0.5) else None

    def redis_restart(self) -> dict[str, Any]:
        if not self.infra.redis_restartable():
            return {"skipped": "redis-server/redis-cli not available or Redis not local"}
        started = time.time()
        self.infra.redis_stop()
        wait_for(lambda: not self.infra.redis_up(), 10, 0.1)
        down = time.time()
        time.sleep(REDIS_DOWN_SECONDS)
        self.infra.redis_start()
        wait_for(self.infra.redis_up, 30, 0.1)
        recovered = time.time()
        workers = self._workers_answer(20)
        return {
            "action": f"redis-cli shutdown nosave; {REDIS_DOWN_SECONDS:.0f}s later redis-server "
            "started again (empty)",
            "recovered": recovered,
            "outage_s": round(recovered - started, 2),
            "down_s": round(recovered - down, 2),
            "workers_answer_after_s": round(workers, 1) if workers is not None else None,
            "observed": f"Redis back after {recovered - started:.1f}s; workers answer "
            + (f"{workers:.1f}s later" if workers is not None else "NOT within 20s"),
        }

    def worker_kill(self) -> dict[str, Any]:
        hostname, service = self.system.take_worker()
        started = time.time()
        service.kill()
        replacement = self.system.start_worker()
        ready = self.system.wait_worker(replacement, 90)
        recovered = time.time()
        return {
            "action": f"SIGKILL process group of {hostname} (pid {service.pid}); "
            f"replacement {replacement}",
            "killed": hostname,
            "replacement": replacement,
            "recovered": recovered,
            "outage_s": round(recovered - started, 2),
            "observed": f"replacement answering after {recovered - started:.1f}s"
            if ready
            else "replacement NOT ready within 90s",
        }

    def postgres_restart(self) -> dict[str, Any]:
        if self.infra.pg_cluster() is None:
            return {"skipped": "no local cluster to restart (pg_lsclusters/pg_ctlcluster)"}
        started = time.time()
        # Immediate mode: the server processes are killed without a shutdown checkpoint and
        # WAL not yet written is lost, as in a crash; the restart then runs crash recovery.
        self.infra.pg_ctl("restart", mode="immediate")
        wait_for(self.infra.pg_up, 60, 0.1)
        recovered = time.time()
        return {
            "action": "pg_ctlcluster -m immediate restart (a crash)",
            "recovered": recovered,
            "outage_s": round(recovered - started, 2),
            "observed": f"PostgreSQL accepting connections after {recovered - started:.1f}s",
        }

    def receiver_outage(self) -> dict[str, Any]:
        refused_before = self.receiver.refused
        self.receiver.fail_until = time.time() + RECEIVER_OUTAGE_SECONDS
        self.cancelled.wait(RECEIVER_OUTAGE_SECONDS)
        refused = self.receiver.refused - refused_before
        return {
            "action": f"receiver answers 500 for {RECEIVER_OUTAGE_SECONDS:.0f}s",
            "recovered": time.time(),
            "outage_s": RECEIVER_OUTAGE_SECONDS,
            "refused": refused,
            "observed": f"{refused} attempts answered 500",
        }


# --- Setup ----------------------------------------------------------------------------------------


def prepare_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1].split("?")[0]
    if "soak" not in name:
        raise SystemExit(f"refusing to flush database {name!r}: its name must contain 'soak'")
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            log(f"created database {name}")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)


def api(base_url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    import requests

    response = requests.request(
        method,
        base_url + path,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        data=json.dumps(body) if body is not None else None,
        timeout=30,
    )
    if response.status_code >= 300:
        raise SystemExit(f"{method} {path} → {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


def register_webhooks(base_url: str, token: str, receiver: Receiver) -> dict[str, str]:
    """Two webhooks on the receiver: every event type, and the job.* types. Returns name → id."""
    from standardwebhooks import Webhook as Verifier

    job_types = [t["type"] for t in api(base_url, token, "GET", "/events/types")]
    job_types = [t for t in job_types if t.startswith("job.")]
    ids = {}
    for hook, events in (("all", []), ("jobs", job_types)):
        created = api(
            base_url, token, "POST", "/webhooks", {"url": receiver.url(hook), "events": events}
        )
        receiver.verifiers[hook] = Verifier(created["secret"])
        ids[hook] = created["id"]
    return ids


# --- Drain and reconciliation ---------------------------------------------------------------------


def open_counts() -> dict[str, int]:
    from apps.deployments.models import Execution
    from apps.events.models import Event
    from apps.jobs.models import Job
    from apps.webhooks.models import Delivery
    from apps.workflows.models import WorkflowRun

    return {
        "jobs": Job.objects.filter(status__in=Job.OPEN_STATUSES).count(),
        "workflow runs": WorkflowRun.objects.filter(status__in=WorkflowRun.OPEN_STATUSES).count(),
        "executions": Execution.objects.filter(status__in=Execution.OPEN_STATUSES).count(),
        "deliveries": Delivery.objects.filter(status__in=Delivery.OPEN_STATUSES).count(),
        "undispatched events": Event.objects.filter(dispatched_at__isnull=True).count(),
    }


def safe_open_counts() -> dict[str, int] | None:
    from django.db import connections

    try:
        return open_counts()
    except Exception:
        return None
    finally:
        connections.close_all()


def cancel_open_recurring(base_url: str, token: str) -> list[str]:
    """Recurring parents the load could not cancel (errors at the end): cancel them like a user."""
    from apps.jobs.models import Job

    ids = list(
        Job.objects.filter(status=Job.Status.SCHEDULED, parent__isnull=True)
        .exclude(cron_spec="")
        .values_list("id", flat=True)
    )
    for job_id in ids:
        with contextlib.suppress(SystemExit):
            api(base_url, token, "DELETE", f"/jobs/{job_id}")
    return ids


def drain(seconds: float, base_url: str, token: str) -> tuple[bool, float, dict[str, int]]:
    started = time.time()
    cancel_open_recurring(base_url, token)
    settled_once = False
    last_report = 0.0
    counts: dict[str, int] = {}
    while time.time() - started < seconds:
        counts = safe_open_counts() or {"database": -1}
        if not any(counts.values()):
            if settled_once:
                return True, time.time() - started, counts
            settled_once = True
        else:
            settled_once = False
        if time.time() - last_report >= 15:
            open_now = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            log(f"drain {time.time() - started:.0f}s: open: {open_now or 'none'}")
            last_report = time.time()
        time.sleep(2)
    return False, time.time() - started, counts


def stuck_details(limit: int = 8) -> dict[str, list[dict[str, Any]]]:
    """Rows still open after the drain, with the fields that say which recovery missed them."""
    from apps.deployments.models import Execution
    from apps.events.models import Event
    from apps.jobs.models import Job
    from apps.webhooks.models import Delivery
    from apps.workflows.models import WorkflowRun, WorkflowStep

    def rows(queryset, fields):
        return [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
            for row in queryset.values(*fields)[:limit]
        ]

    return {
        "jobs": rows(
            Job.objects.filter(status__in=Job.OPEN_STATUSES),
            [
                "id",
                "status",
                "cron_spec",
                "attempts",
                "created_at",
                "scheduled_at",
                "enqueued_at",
                "next_run_at",
                "task_id",
                "worker",
                "heartbeat_at",
            ],
        ),
        "workflow runs": rows(
            WorkflowRun.objects.filter(status__in=WorkflowRun.OPEN_STATUSES),
            ["id", "workflow_id", "status", "created_at", "deadline"],
        ),
        "workflow steps": rows(
            WorkflowStep.objects.filter(run__status__in=WorkflowRun.OPEN_STATUSES),
            ["run_id", "name", "status", "attempts", "scheduled_at", "due_at", "task_id"],
        ),
        "executions": rows(
            Execution.objects.filter(status__in=Execution.OPEN_STATUSES),
            ["id", "deployment_ref", "status", "started_at"],
        ),
        "deliveries": rows(
            Delivery.objects.filter(status__in=Delivery.OPEN_STATUSES),
            [
                "id",
                "event_ref",
                "event_type",
                "status",
                "attempts",
                "next_retry_at",
                "claimed_until",
                "error",
                "created_at",
            ],
        ),
        "undispatched events": rows(
            Event.objects.filter(dispatched_at__isnull=True), ["id", "type", "timestamp"]
        ),
    }


class Verdict:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.notes: list[str] = []

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)


def fault_windows(faults: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """API errors are tolerated only while Redis or PostgreSQL is being restarted."""
    return [
        (f["fault"], f["start"] - 0.5, f["recovered"] + FAULT_GRACE_SECONDS)
        for f in faults
        if f["fault"] in ("redis-restart", "postgres-restart") and "skipped" not in f
    ]


def api_summary(
    records: list, load_seconds: float, faults: list[dict[str, Any]], verdict: Verdict
) -> dict[str, Any]:
    windows = fault_windows(faults)
    by_status = Counter(status for _, _, status, _ in records)
    per_endpoint: dict[str, list[float]] = defaultdict(list)
    endpoint_errors: Counter = Counter()
    in_window: dict[str, Counter] = defaultdict(Counter)
    unexpected_5xx: list[str] = []
    unexpected_status: Counter = Counter()
    for started, template, status, ms in records:
        if status > 0:
            per_endpoint[template].append(ms)
        failed = status >= 500 or status <= 0
        if failed:
            endpoint_errors[template] += 1
            ended = started + ms / 1000
            window = next((w for w in windows if started <= w[2] and ended >= w[1]), None)
            if window is not None:
                in_window[window[0]][status] += 1
            else:
                unexpected_5xx.append(
                    f"{time.strftime('%H:%M:%S', time.localtime(started))} {template} → "
                    f"{status_name(status)}"
                )
        elif status not in EXPECTED_STATUSES.get(template, {200}):
            unexpected_status[(template, status)] += 1
    verdict.check(
        not unexpected_5xx,
        f"{len(unexpected_5xx)} API 5xx/connection errors outside fault windows: "
        + "; ".join(unexpected_5xx[:5]),
    )
    verdict.check(
        not unexpected_status,
        "unexpected API statuses: "
        + ", ".join(f"{t} → {s} ×{n}" for (t, s), n in unexpected_status.most_common(8)),
    )
    for fault in faults:
        errors = in_window.get(fault["fault"], Counter())
        fault["api_errors"] = {status_name(s): n for s, n in sorted(errors.items())}
        if errors:
            begin, end = fault["start"] - 0.5, fault["recovered"] + FAULT_GRACE_SECONDS
            last = max(
                (
                    started + ms / 1000
                    for started, _, status, ms in records
                    if (status >= 500 or status <= 0)
                    and started <= end
                    and started + ms / 1000 >= begin
                ),
                default=fault["start"],
            )
            fault["api_errors_until_s"] = round(last - fault["start"], 1)
    endpoints = {
        template: {
            "n": len(values),
            "p50_ms": round(percentile(values, 0.5), 1),
            "p99_ms": round(percentile(values, 0.99), 1),
            "errors": endpoint_errors.get(template, 0),
        }
        for template, values in sorted(per_endpoint.items())
    }
    return {
        "requests": len(records),
        "requests_per_s": round(len(records) / load_seconds, 1),
        "by_status": {status_name(s): n for s, n in sorted(by_status.items())},
        "endpoints": endpoints,
        "errors_in_fault_windows": sum(sum(c.values()) for c in in_window.values()),
        "unexpected_errors": len(unexpected_5xx),
    }


def status_name(status: int) -> str:
    return {CONNECTION_ERROR: "connection error", TIMEOUT: "timeout"}.get(status, str(status))


def attribute(moment: float | None, faults: list[dict[str, Any]]) -> str:
    """The fault that hit an item open since `moment` (its due time, or a lost receipt's time):
    the first message-losing fault that started after it (5 s slack: items due during an
    outage) and within LATE_SECONDS of it; "none" if there is no such fault."""
    if moment is None:
        return "none"
    for fault in faults:
        if fault["fault"] == "receiver-500" or "skipped" in fault:
            continue
        if moment - 5 <= fault["start"] <= moment + LATE_SECONDS or (
            fault["start"] <= moment <= fault["recovered"] + 5
        ):
            return fault["fault"]
    return "none"


def fault_effects(
    late_items: list[tuple[str, float, float]],
    duplicates: list[float],
    faults: list[dict[str, Any]],
) -> dict[str, dict[str, int]]:
    """Late items (kind, due, done) and duplicate receipts (time of the unrecorded one), by
    fault; each fault also gets when its last late item was done, relative to its start."""
    by_kind: dict[str, Counter] = defaultdict(Counter)
    named = {fault["fault"]: fault for fault in faults}
    for kind, due, done in late_items:
        name = attribute(due, faults)
        by_kind[kind][name] += 1
        if name in named:
            fault = named[name]
            fault.setdefault("recovered_late", Counter())[kind] += 1
            fault["last_recovered_s"] = round(
                max(fault.get("last_recovered_s", 0), done - fault["start"]), 1
            )
    for moment in duplicates:
        name = attribute(moment, faults)
        if name in named:
            named[name]["duplicates"] = named[name].get("duplicates", 0) + 1
        else:
            by_kind["duplicate receipts"]["none"] += 1
    return {kind: dict(counts) for kind, counts in by_kind.items()}


def task_errors(logdir: Path, faults: list[dict[str, Any]]) -> None:
    """Per fault: task attempts that raised (`Task x raised unexpected: Error`) in its window,
    from the workers' JSON logs. Their messages were acknowledged: the sweeps redo the work."""
    from datetime import datetime

    errors: list[tuple[float, str]] = []
    for path in logdir.glob("worker*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if "raised unexpected" not in line:
                continue
            with contextlib.suppress(ValueError, KeyError):
                record = json.loads(line)
                moment = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
                message = record["message"]
                task = message.split("Task ", 1)[1].split("[", 1)[0]
                error = message.split("raised unexpected: ", 1)[1].split("(", 1)[0]
                errors.append((moment.timestamp(), f"{task} {error}"))
    for at, name in errors:
        started = [f for f in faults if f["start"] - 1 <= at <= f["recovered"] + 10]
        if started:  # the latest fault that had started: windows may overlap
            fault = max(started, key=lambda f: f["start"])
            fault.setdefault("task_errors", Counter())[name] += 1


def reconcile(
    load: dict[str, Any],
    receiver: Receiver,
    hook_ids: dict[str, str],
    faults: list[dict[str, Any]],
    verdict: Verdict,
) -> dict[str, Any]:
    from django.db.models import Max, Min

    from apps.deployments.models import Deployment, Execution
    from apps.events.models import Event
    from apps.jobs.models import Job
    from apps.webhooks.models import Delivery, DeliveryAttempt, Webhook
    from apps.workflows.models import WorkflowHistoryEvent, WorkflowRun

    summary: dict[str, Any] = {}
    late_items: list[tuple[str, float, float]] = []  # (kind, due, done)

    # Jobs -------------------------------------------------------------------------------------
    jobs = {row["id"]: row for row in Job.objects.values()}
    accepted = load["jobs"]
    missing = [job_id for job_id, _ in accepted if job_id not in jobs]
    verdict.check(not missing, f"{len(missing)} accepted jobs not in the database: {missing[:5]}")
    not_final = [j for j in jobs.values() if j["status"] not in Job.FINAL_STATUSES]
    verdict.check(
        not not_final,
        f"{len(not_final)} jobs not final: "
        + ", ".join(f"{j['id']} {j['status']}" for j in not_final[:5]),
    )
    parents = [j for j in jobs.values() if j["cron_spec"]]
    verdict.check(
        all(j["status"] == Job.Status.CANCELLED for j in parents),
        "recurring parents not cancelled: "
        + ", ".join(j["id"] for j in parents if j["status"] != Job.Status.CANCELLED),
    )
    runs = [j for j in jobs.values() if not j["cron_spec"]]
    status_counts = Counter(j["status"] for j in runs)
    failed_errors = Counter(j["error"][:80] for j in runs if j["status"] == Job.Status.FAILED)
    for job in runs:
        if job["status"] != Job.Status.COMPLETED or job["attempts"] != 1:
            continue
        due = job["scheduled_at"] or job["created_at"]
        if job["started_at"] and (job["started_at"] - due).total_seconds() >= LATE_SECONDS:
            late_items.append(("jobs", due.timestamp(), job["completed_at"].timestamp()))
    completed = [j for j in runs if j["status"] == Job.Status.COMPLETED]
    job_span = (
        (
            max(j["completed_at"] for j in completed) - min(j["created_at"] for j in completed)
        ).total_seconds()
        if completed
        else 0
    )
    retrying = Counter(
        re.sub(r"soak-worker\d+@\S+", "<worker>", e.get("error") or "")[:60]
        for e in Event.objects.filter(type="job.retrying").values_list("data", flat=True)
    )
    summary["jobs"] = {
        "accepted": len(accepted),
        "accepted_by_kind": dict(Counter(kind for _, kind in accepted)),
        "rows": len(jobs),
        "recurring_runs": sum(1 for j in runs if j["parent_id"]),
        "by_status": dict(status_counts),
        "failed_by_error": dict(failed_errors),
        "retried_attempts_by_error": dict(retrying),
        "completed_per_s": round(len(completed) / job_span, 1) if job_span else 0,
    }
    if failed_errors:
        verdict.notes.append(f"failed jobs: {dict(failed_errors)}")

    # Workflows --------------------------------------------------------------------------------
    wf_rows = list(
        WorkflowRun.objects.values("workflow_id", "status", "created_at", "completed_at")
    )
    known = {row["workflow_id"] for row in wf_rows}
    missing_wf = [w for w in load["workflows"] if w not in known]
    verdict.check(not missing_wf, f"{len(missing_wf)} accepted workflows missing: {missing_wf[:5]}")
    open_wf = [r for r in wf_rows if r["status"] in WorkflowRun.OPEN_STATUSES]
    verdict.check(not open_wf, f"{len(open_wf)} workflow runs still open")
    for row in wf_rows:
        if row["completed_at"] and row["status"] == WorkflowRun.Status.COMPLETED:
            took = (row["completed_at"] - row["created_at"]).total_seconds()
            if took >= LATE_SECONDS:
                times = (row["created_at"].timestamp(), row["completed_at"].timestamp())
                late_items.append(("workflow runs", *times))
    lost_steps = Counter(
        f"{event_type}: {str((attributes or {}).get('error', ''))[:50]}"
        for event_type, attributes in WorkflowHistoryEvent.objects.filter(
            event_type__in=["ActivityTaskFailed", "ActivityTaskTimedOut"]
        ).values_list("event_type", "attributes")
    )
    summary["workflows"] = {
        "accepted": len(load["workflows"]),
        "runs": len(wf_rows),
        "by_status": dict(Counter(r["status"] for r in wf_rows)),
        "failed_or_timed_out_attempts": dict(lost_steps),
    }

    # Executions -------------------------------------------------------------------------------
    executions = {row["id"]: row for row in Execution.objects.values()}
    missing_ex = [e for e in load["executions"] if e not in executions]
    verdict.check(not missing_ex, f"{len(missing_ex)} accepted executions missing")
    open_ex = [e for e in executions.values() if e["status"] in Execution.OPEN_STATUSES]
    verdict.check(
        not open_ex,
        f"{len(open_ex)} executions not finished: "
        + ", ".join(f"{e['id']} {e['status']}" for e in open_ex[:5]),
    )
    executed = {e["deployment_ref"] for e in executions.values()}
    bad_deployments = Deployment.objects.filter(pk__in=executed).exclude(
        status__in=[Deployment.Status.COMPLETE, Deployment.Status.FAILED]
    )
    verdict.check(
        not bad_deployments.exists(),
        f"{bad_deployments.count()} executed deployments not complete/failed",
    )
    for row in executions.values():
        if row["completed_at"] and (row["completed_at"] - row["started_at"]).total_seconds() >= (
            LATE_SECONDS
        ):
            times = (row["started_at"].timestamp(), row["completed_at"].timestamp())
            late_items.append(("executions", *times))
    summary["executions"] = {
        "accepted": len(load["executions"]),
        "rows": len(executions),
        "by_status": dict(Counter(e["status"] for e in executions.values())),
        "failed_errors": dict(
            Counter(e["error"][:80] for e in executions.values() if e["status"] == "failed")
        ),
    }

    # Events → webhooks → receiver ----------------------------------------------------------------
    hooks = {name: Webhook.objects.get(pk=webhook_id) for name, webhook_id in hook_ids.items()}
    verdict.check(
        all(h.active for h in hooks.values()),
        "webhook disabled: " + ", ".join(n for n, h in hooks.items() if not h.active),
    )
    events = list(Event.objects.values_list("id", "type", "timestamp"))
    expected: dict[tuple[str, str], str] = {}
    for name, hook in hooks.items():
        for event_id, event_type, timestamp in events:
            if event_type == "webhook.test" or timestamp < hook.created_at:
                continue
            if hook.subscribes_to(event_type):
                expected[(name, event_id)] = event_type
    received = set(receiver.accepted)
    never = sorted(set(expected) - received)
    deliveries = {
        (row["webhook_id"], row["event_ref"]): row
        for row in Delivery.objects.values(
            "id", "webhook_id", "event_ref", "status", "attempts", "error", "next_retry_at"
        )
    }
    if never:
        examples = []
        for name, event_id in never[:5]:
            row = deliveries.get((hook_ids[name], event_id))
            state = (
                f"delivery {row['id']} {row['status']} attempts {row['attempts']} {row['error']!r}"
                if row
                else "no delivery row"
            )
            examples.append(f"{name}/{event_id} ({expected[(name, event_id)]}): {state}")
        verdict.check(False, f"{len(never)} events never reached their webhook: {examples}")
    unexpected = sorted(received - set(expected))
    verdict.check(
        not unexpected, f"{len(unexpected)} receipts of unexpected events: {unexpected[:5]}"
    )
    duplicate_times = [times[0] for times in receiver.accepted.values() if len(times) > 1]
    duplicates = sum(len(times) - 1 for times in receiver.accepted.values())
    verdict.check(
        not receiver.bad_signatures,
        f"{len(receiver.bad_signatures)} bad signatures: {receiver.bad_signatures[:3]}",
    )
    verdict.check(
        not receiver.id_mismatches, f"body id != webhook-id: {receiver.id_mismatches[:3]}"
    )
    delivery_status = Counter(row["status"] for row in deliveries.values())
    verdict.check(
        not delivery_status.get("pending") and not delivery_status.get("retrying"),
        f"open deliveries: {dict(delivery_status)}",
    )
    verdict.check(
        not delivery_status.get("failed"),
        f"{delivery_status.get('failed')} deliveries failed (attempts exhausted)",
    )
    first_attempts = DeliveryAttempt.objects.filter(number=1).values_list(
        "delivery__created_at", "created_at"
    )
    for created, attempted in first_attempts:
        if (attempted - created).total_seconds() >= LATE_SECONDS:
            late_items.append(("deliveries", created.timestamp(), attempted.timestamp()))
    failed_attempts = Counter(
        error.split(":")[0][:40]
        for error in DeliveryAttempt.objects.exclude(error="").values_list("error", flat=True)
    )
    span = Delivery.objects.filter(status="succeeded").aggregate(
        first=Min("created_at"), last=Max("delivered_at")
    )
    succeeded = delivery_status.get("succeeded", 0)
    seconds = (span["last"] - span["first"]).total_seconds() if succeeded else 0
    summary["events"] = {
        "events": len(events),
        "by_type": dict(Counter(t for _, t, _ in events).most_common()),
    }
    summary["webhooks"] = {
        "expected_receipts": len(expected),
        "received_unique": len(received & set(expected)),
        "duplicates": duplicates,
        "refused_during_outage": receiver.refused,
        "bad_signatures": len(receiver.bad_signatures),
        "deliveries_by_status": dict(delivery_status),
        "attempts": DeliveryAttempt.objects.count(),
        "failed_attempts_by_error": dict(failed_attempts),
        "max_attempts": max((row["attempts"] for row in deliveries.values()), default=0),
        "deliveries_per_s": round(succeeded / seconds, 1) if seconds else 0,
    }
    outage = next((f for f in faults if f["fault"] == "receiver-500" and "skipped" not in f), None)
    if outage is not None:
        refused = DeliveryAttempt.objects.filter(status_code=500).values("delivery_id").distinct()
        retried = Delivery.objects.filter(pk__in=refused)
        outage["retried_deliveries"] = retried.count()
        last = retried.aggregate(last=Max("delivered_at"))["last"]
        if last is not None:
            outage["last_recovered_s"] = round(last.timestamp() - outage["start"], 1)
    late = fault_effects(late_items, duplicate_times, faults)
    summary["late"] = late
    unattributed = {kind: c["none"] for kind, c in late.items() if c.get("none")}
    if unattributed:
        verdict.notes.append(
            f"recovered late (>= {LATE_SECONDS:.0f}s) outside any fault window: {unattributed}"
        )
    return summary


# --- Report ---------------------------------------------------------------------------------------


def print_report(summary: dict[str, Any]) -> None:
    a = summary["api"]
    print()
    print(
        f"Soak {summary['duration_s']}s, faults {'on' if summary['faults_enabled'] else 'off'}, "
        f"{summary['machine']}"
    )
    print(
        f"API: {a['requests']} requests, {a['requests_per_s']}/s; by status: "
        + ", ".join(f"{s}: {n}" for s, n in a["by_status"].items())
    )
    print(f"\n{'endpoint':34}{'n':>7}{'p50 ms':>9}{'p99 ms':>9}{'5xx/conn':>10}")
    for template, e in a["endpoints"].items():
        print(f"{template:34}{e['n']:>7}{e['p50_ms']:>9.1f}{e['p99_ms']:>9.1f}{e['errors']:>10}")
    j, w, x = summary["jobs"], summary["webhooks"], summary["executions"]
    print(
        f"\njobs: {j['accepted']} accepted {j['accepted_by_kind']}, {j['rows']} rows "
        f"({j['recurring_runs']} recurring runs), {j['by_status']}; "
        f"{j['completed_per_s']} completed/s"
    )
    if j["retried_attempts_by_error"]:
        print(f"  retried attempts: {j['retried_attempts_by_error']}")
    wf = summary["workflows"]
    print(f"workflows: {wf['accepted']} accepted, {wf['runs']} runs, {wf['by_status']}")
    if wf["failed_or_timed_out_attempts"]:
        print(f"  failed/timed-out step attempts: {wf['failed_or_timed_out_attempts']}")
    print(f"executions: {x['accepted']} accepted, {x['rows']} rows, {x['by_status']}")
    if x["failed_errors"]:
        print(f"  failed executions: {x['failed_errors']}")
    print(f"events: {summary['events']['events']}")
    print(
        f"webhooks: {w['received_unique']}/{w['expected_receipts']} expected receipts, "
        f"{w['duplicates']} duplicates, {w['refused_during_outage']} refused (500), "
        f"{w['bad_signatures']} bad signatures; deliveries {w['deliveries_by_status']}, "
        f"{w['attempts']} attempts (max {w['max_attempts']} per delivery), "
        f"{w['deliveries_per_s']} deliveries/s"
    )
    if w["failed_attempts_by_error"]:
        print(f"  failed attempts: {w['failed_attempts_by_error']}")
    if summary["late"]:
        print(f"recovered late (>= {LATE_SECONDS:.0f}s, by fault): {summary['late']}")
    if summary["faults"]:
        print(
            f"\n{'fault':18}{'at s':>6}{'outage s':>9}  {'API 5xx/conn':18}{'late':>5}"
            f"{'done by':>9}{'dup':>5}  observed"
        )
        for f in summary["faults"]:
            errors = ", ".join(f"{k}: {v}" for k, v in f.get("api_errors", {}).items()) or "none"
            late = sum(f.get("recovered_late", {}).values()) + f.get("retried_deliveries", 0)
            done = f"+{f['last_recovered_s']}s" if "last_recovered_s" in f else "-"
            observed = f.get("skipped") or f.get("error") or f.get("observed", "")
            print(
                f"{f['fault']:18}{f['at_s']:>6}{f.get('outage_s', 0):>9}  {errors:18}{late:>5}"
                f"{done:>9}{f.get('duplicates', 0):>5}  {observed}"
            )
            details = []
            if f.get("recovered_late"):
                details.append(f"recovered late by sweeps: {dict(f['recovered_late'])}")
            if f.get("retried_deliveries"):
                details.append(f"deliveries retried until success: {f['retried_deliveries']}")
            if f.get("incidents"):
                details.append(f"PROCESSES LOST (restarted by the supervisor): {f['incidents']}")
            if f.get("task_errors"):
                details.append(f"task attempts that raised: {dict(f['task_errors'])}")
            if "api_errors_until_s" in f:
                details.append(f"last API error at +{f['api_errors_until_s']}s")
            for detail in details:
                print(f"{'':20}{detail}")
        print(
            "late = items recovered by a sweep (or, receiver-500: deliveries retried); done by ="
            " when the last of them finished, from the fault's start; dup = duplicate receipts"
        )
    print(
        f"\ndrain: {'settled' if summary['drain']['settled'] else 'NOT settled'} after "
        f"{summary['drain']['seconds']:.0f}s"
    )
    for note in summary["notes"]:
        print(f"note: {note}")
    print(f"\nverdict: {summary['verdict']}")
    for reason in summary["failures"]:
        print(f"  - {reason}")


# --- Main -----------------------------------------------------------------------------------------

_cleanups: list = []


def _run_cleanups() -> None:
    while _cleanups:
        with contextlib.suppress(Exception):
            _cleanups.pop()()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="load seconds (300)")
    parser.add_argument("--faults", action="store_true", help="inject the four faults")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--rate", type=float, default=12, help="target API requests/s (12)")
    parser.add_argument("--threads", type=int, default=6, help="load threads (6)")
    parser.add_argument("--concurrency", type=int, default=2, help="pool size per worker (2)")
    parser.add_argument("--drain", type=float, default=180, help="max drain seconds (180)")
    parser.add_argument(
        "--only-faults",
        type=lambda value: value.split(","),
        help=f"comma-separated subset of: {','.join(Faults.NAMES)}",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--keep-logs", action="store_true", help="keep the log dir on PASS too")
    args = parser.parse_args()
    unknown = set(args.only_faults or []) - set(Faults.NAMES)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    if args.only_faults:
        args.faults = True

    infra = Infrastructure(args.database_url, args.redis_url)
    if infra.redis_db == 0:
        raise SystemExit("refusing to FLUSHDB Redis db 0: pass a --redis-url with another db")
    env = {
        **os.environ,
        **SOAK_ENV,
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": args.redis_url,
        "DJANGO_SETTINGS_MODULE": "codeai.settings",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ.update({**env, "CODEAI_DB_CONN_MAX_AGE": "0", "CODEAI_LOG_LEVEL": "WARNING"})
    logdir = Path(tempfile.mkdtemp(prefix="codeai-soak-"))
    log(f"logs in {logdir}")
    # The services' temp files too (a SIGKILLed pool leaves its pymp-* directory behind).
    (logdir / "tmp").mkdir()
    env["TMPDIR"] = str(logdir / "tmp")

    atexit.register(_run_cleanups)
    _cleanups.append(infra.ensure_up)  # runs last: LIFO
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    infra.ensure_up()
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    prepare_database(args.database_url)
    from apps.accounts.services import token_issue

    system = System(env, logdir, args.concurrency, time.time())
    _cleanups.append(system.stop)
    receiver = Receiver()
    _cleanups.append(receiver.stop)
    log(f"starting web on {system.base_url}, 2 workers, beat")
    system.start()
    from datetime import timedelta

    token = token_issue(
        subject="soak", roles=["admin"], ttl=timedelta(seconds=args.duration + args.drain + 3600)
    )
    hook_ids = register_webhooks(system.base_url, token, receiver)

    load_start = time.time()
    out = logdir / "load.json"
    config = {
        "base_url": system.base_url,
        "token": token,
        "hook_ids": list(hook_ids.values()),
        "stop_at": load_start + args.duration,
        "threads": args.threads,
        "rate": args.rate,
        "recurring": 2 + int(args.duration // 100),
        "seed": args.seed,
        "out": str(out),
    }
    # Daemonic: on an early exit multiprocessing terminates it instead of waiting for its end.
    process = multiprocessing.get_context("spawn").Process(
        target=load_main, args=(config,), name="soak-load", daemon=True
    )
    process.start()
    _cleanups.append(lambda: process.is_alive() and (process.kill(), process.join(5)))
    log(
        f"load: {args.duration:.0f}s, {args.threads} threads, target {args.rate:.0f} req/s"
        + ("; faults at 15/35/55/70 %" if args.faults else "")
    )
    system.started = load_start
    faults = None
    if args.faults:
        faults = Faults(infra, system, receiver, load_start, args.duration, args.only_faults)
    if faults:
        faults.start()
        _cleanups.append(faults.cancelled.set)
    next_report = load_start + 15
    while process.is_alive():
        process.join(1)
        if time.time() >= next_report and process.is_alive():
            counts = safe_open_counts()
            shown = ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else "db down"
            log(f"load {time.time() - load_start:.0f}s: open: {shown}")
            next_report += 15
    load_seconds = time.time() - load_start
    if faults:
        faults.join()
    if process.exitcode != 0 or not out.exists():
        raise SystemExit(f"the load process failed (exit {process.exitcode})")
    load = json.loads(out.read_text())
    log(f"load done: {len(load['records'])} requests in {load_seconds:.0f}s; draining")

    settled, drained, remaining = drain(args.drain, system.base_url, token)
    verdict = Verdict()
    verdict.check(settled, f"not settled after {args.drain:.0f}s drain: open {remaining}")
    stuck = {} if settled else stuck_details()
    dead = system.dead()
    verdict.check(not dead, f"processes not running at the end: {dead}")
    for incident in system.incidents:
        verdict.check(
            False,
            f"{incident['service']} {incident['what']} at +{incident['at_s']}s "
            f"(replaced by the soak's supervisor): {incident['log']}",
        )
    fault_records = faults.records if faults else []
    for fault in fault_records:
        verdict.check("error" not in fault, f"fault {fault['fault']}: {fault.get('error')}")
        if "skipped" in fault:
            verdict.notes.append(f"fault {fault['fault']} skipped: {fault['skipped']}")
    summary: dict[str, Any] = {
        "duration_s": args.duration,
        "faults_enabled": args.faults,
        "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; rate target "
        f"{args.rate:.0f}/s, {args.threads} threads; 2 workers x {args.concurrency}",
        "api": api_summary(load["records"], load_seconds, fault_records, verdict),
    }
    summary.update(reconcile(load, receiver, hook_ids, fault_records, verdict))
    task_errors(logdir, fault_records)
    if load["recurring_cancel_failed"]:
        verdict.notes.append(
            f"recurring jobs cancelled by the drain: {load['recurring_cancel_failed']}"
        )
    for fault in fault_records:
        end = fault["at_s"] + fault.get("outage_s", 0) + 15
        fault["incidents"] = [
            f"{i['service']} {i['what']}"
            for i in system.incidents
            if fault["at_s"] - 1 <= i["at_s"] <= end
        ]
    summary["faults"] = [
        {k: v for k, v in f.items() if k not in ("start", "recovered")} for f in fault_records
    ]
    summary["incidents"] = system.incidents
    summary["drain"] = {"settled": settled, "seconds": round(drained, 1), "stuck": stuck}
    summary["notes"] = verdict.notes
    summary["failures"] = verdict.failures
    summary["verdict"] = "FAIL" if verdict.failures else "PASS"
    summary["logs"] = str(logdir)
    print_report(summary)
    if stuck:
        print(json.dumps(stuck, indent=1, default=str))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    if verdict.failures or args.keep_logs:
        log(f"logs kept in {logdir}")
    else:
        _cleanups.insert(1, lambda: shutil.rmtree(logdir, ignore_errors=True))
    return 1 if verdict.failures else 0


if __name__ == "__main__":
    sys.exit(main())
