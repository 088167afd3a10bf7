"""Real `celery -A codeai worker` processes that a test can kill (shared by jobs and workflows).

The workers are separate processes, so they reach the test database over the network: tests
using them need PostgreSQL (`needs_postgresql`).
"""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: these subprocess workers are configured through DATABASE_URL "
            "(run with DATABASE_URL=postgres://…)"
        )


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or 'localhost'}{port}/{db['NAME']}"


class WorkerProcess:
    """`celery -A codeai worker` (prefork, one child) in its own process group, on one queue."""

    def __init__(self, queue: str, log: Path, *, name: str, env: dict[str, str]):
        self.hostname = f"{name}-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        environment = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CODEAI_QUEUES": f"default {queue}",
            "CODEAI_DB_CONN_MAX_AGE": "0",
            **env,
        }
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "codeai",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--queues",
                queue,
                "--hostname",
                self.hostname,
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, app, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not app.control.ping(destination=[self.hostname], timeout=0.5):
            assert self.process.poll() is None, "worker exited during start-up"
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {self.hostname} not ready within {seconds}s")

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool child, mid-task."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
