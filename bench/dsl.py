"""Benchmark of the `.cai` DSL compiler (no Django needed).

Run from the repository root::

    .venv/bin/python bench/dsl.py [--repeat N] [--lines N]

Measures, for the corpus files and for a generated program covering most constructs:

* throughput of ``parse`` alone and of ``parse`` + ``validate`` (lines/s and MB/s, best of N);
* the same for ``compile_source`` (parse + to_json + validate);
* a baseline measured in the same run: CPython's own ``compile()`` of a Python file with the
  same number of lines (``ast.parse`` + bytecode), so the figures can be compared across
  machines;
* cold start: wall time of a fresh ``python -c "from apps.dsl.compiler import compile_source;
  compile_source(...)"`` minus a bare ``python -c pass`` (medians of several runs).
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.dsl.compiler import DslSyntaxError, compile_source, parse, validate  # noqa: E402

CORPUS_FILES = ROOT.parent / "shared" / "dsl-corpus" / "files"

TARGET_LINES_PER_S = 50_000
TARGET_COLD_START_MS = 300


# -- generated program ---------------------------------------------------------------------------


def _unit(i: int) -> str:
    """One chunk of source (~100 lines) exercising most constructs; names are unique per i."""
    return f"""\
// ---- unit {i} ----
var name_{i} = "item {i}"
var count_{i} = {i}
var ratio_{i} = {i}.5
var flags_{i} = [true, false, count_{i}, "x"]
count_{i} = count_{i}
function handler_{i}(a, b, c) {{
  var local = [a, b, c]
  for item in local {{
    if item {{
      print(item)
    }} else {{
      print(len(local))
    }}
  }}
}}
handler_{i}(name_{i}, count_{i}, flags_{i})
/* block comment
   spanning lines */
exec {{ echo "unit {i}" && ls -la }}
database postgres {{
  model User{i} {{
    description: "users of unit {i}"
    id: uuid, primary, auto
    email: string, required, unique
    tags: list(string), optional
    status: enum(active, inactive), default("active")
    owner: ref(User{i})
    index: [email] unique
    index: [status, email]
  }}
}}
auth jwt_{i} {{
  method jwt
  jwks_url "https://auth.example.com/{i}/jwks.json"
  issuer "https://auth.example.com"
  audience "api"
}}
role admin_{i} {{ permissions ["users:read", "users:write"] }}
middleware auth_mw_{i} {{
  type authentication
  config {{
    provider: jwt_{i}
    required: true
  }}
}}
middleware limit_{i} {{
  type rate_limiting
  config {{ requests: 100 window: "1m" strategy: sliding_window }}
}}
event user_created_{i} {{
  schema {{
    user_id uuid
    email string
    created_at timestamp
  }}
}}
on "user.created" do workflow "onboard_{i}" async
integration stripe_{i} {{
  type rest
  base_url "https://api.stripe.com/v1"
  auth bearer {{ token: env("STRIPE_KEY") }}
  timeout "30s"
  circuit_breaker {{ threshold 5 timeout "60s" max_concurrent 100 }}
}}
webhook notify_{i} {{
  event "order.completed"
  url "https://hooks.example.com/{i}"
  method POST
  headers {{ "Content-Type": "application/json" }}
  retry 3 initial_interval "1s" backoff 2.0
}}
@auth("jwt_{i}")
@deprecated
endpoint GET "/users{i}/:id" {{
  middleware auth_mw_{i}
  require_role "admin"
  request UserId from path
  response User{i} status 200
  do {{
    user = find(User{i}, id) where "active = true" with {{ cache: 300 }}
    paginate(20, 0)
  }}
}}
endpoint POST "/users{i}" {{ request CreateUser from body response User{i} status 201 }}
workflow onboard_{i} {{
  trigger event "user.created"
  timeout "2h"
  steps {{
    welcome {{ activity "email.send" input {{ to: "user.email" }} }}
    parallel {{
      crm {{ activity "crm.sync" }}
      audit {{ activity "audit.log" if "steps.crm.ok" }}
    }}
  }}
  retry {{ max_attempts 3 initial_interval "10s" backoff_multiplier 2.0 }}
}}
workflow agent_{i} {{
  pick: Agent("gpt-4", "choose")
  report: Summarise(pick)
}}
job cleanup_{i} {{
  schedule "0 3 * * *"
  task "maintenance.cleanup"
  queue "low"
  retry {{ max_attempts 5 }}
}}
"""


def generated_program(lines: int = 10_000) -> str:
    config = 'config { name: "bench" version: "1.0.0" database_type: "postgres" }\n'
    parts = [config]
    total = 1
    i = 0
    while total < lines:
        unit = _unit(i)
        parts.append(unit)
        total += unit.count("\n")
        i += 1
    return "".join(parts)


def python_equivalent(lines: int) -> str:
    """A Python file of about ``lines`` lines with a similar token density (the baseline)."""
    unit = """\
name_{i} = "item {i}"
count_{i} = {i}
flags_{i} = [True, False, count_{i}, "x"]
def handler_{i}(a, b, c):
    local = [a, b, c]
    for item in local:
        if item:
            print(item)
        else:
            print(len(local))
config_{i} = dict(requests=100, window="1m", strategy="sliding_window")
"""
    parts = []
    total = 0
    i = 0
    while total < lines:
        chunk = unit.format(i=i)
        parts.append(chunk)
        total += chunk.count("\n")
        i += 1
    return "".join(parts)


# -- measurements --------------------------------------------------------------------------------


def best_time(func, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def rates(seconds: float, lines: int, nbytes: int) -> tuple[float, float]:
    return lines / seconds, nbytes / seconds / 1e6


def cold_start(runs: int) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = (
        "from apps.dsl.compiler import compile_source; "
        "r = compile_source('var greeting = \"hi\"\\nprint(greeting)'); "
        "assert r.errors == []"
    )

    def run(args) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, env=env, cwd=str(ROOT))
        return time.perf_counter() - start

    base = statistics.median(run(["-c", "pass"]) for _ in range(runs))
    full = statistics.median(run(["-c", code]) for _ in range(runs))
    return full * 1000, (full - base) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="timing repetitions (best is kept)")
    ap.add_argument("--lines", type=int, default=10_000, help="size of the generated program")
    ap.add_argument("--cold-runs", type=int, default=7, help="subprocess runs for cold start")
    args = ap.parse_args(argv)

    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs")

    gen = generated_program(args.lines)
    gen_lines = gen.count("\n") + 1
    gen_bytes = len(gen.encode())
    res = compile_source(gen)
    assert res.ast_json is not None and not res.errors, res.errors[:3]

    corpus = []
    if CORPUS_FILES.is_dir():
        for path in sorted(CORPUS_FILES.glob("*.cai")):
            text = path.read_text(encoding="utf-8")
            try:
                parse(text)
            except DslSyntaxError:  # files with a syntax error are skipped
                continue
            corpus.append(text)
    corpus_lines = sum(t.count("\n") + 1 for t in corpus)
    corpus_bytes = sum(len(t.encode()) for t in corpus)

    def parse_corpus():
        for text in corpus:
            parse(text)

    def check_corpus():
        for text in corpus:
            validate(parse(text))

    def compile_corpus():
        for text in corpus:
            compile_source(text)

    py_src = python_equivalent(gen_lines)
    py_lines = py_src.count("\n") + 1
    py_bytes = len(py_src.encode())

    rows = []
    for label, func, lines, nbytes in [
        (f"parse, generated ({gen_lines} lines)", lambda: parse(gen), gen_lines, gen_bytes),
        ("parse+validate, generated", lambda: validate(parse(gen)), gen_lines, gen_bytes),
        ("compile_source, generated", lambda: compile_source(gen), gen_lines, gen_bytes),
        (f"parse, {len(corpus)} valid corpus files", parse_corpus, corpus_lines, corpus_bytes),
        ("parse+validate, corpus files", check_corpus, corpus_lines, corpus_bytes),
        ("compile_source, corpus files", compile_corpus, corpus_lines, corpus_bytes),
        (
            f"baseline: Python compile() ({py_lines} lines)",
            lambda: compile(py_src, "<bench>", "exec"),
            py_lines,
            py_bytes,
        ),
        (
            "baseline: ast.parse",
            lambda: ast.parse(py_src),
            py_lines,
            py_bytes,
        ),
    ]:
        seconds = best_time(func, args.repeat)
        lps, mbps = rates(seconds, lines, nbytes)
        rows.append((label, seconds, lps, mbps))

    baseline_lps = rows[6][2]
    print()
    print(f"{'benchmark':48} {'time ms':>9} {'lines/s':>11} {'MB/s':>7} {'vs compile()':>12}")
    print("-" * 91)
    for label, seconds, lps, mbps in rows:
        ratio = lps / baseline_lps
        print(f"{label:48} {seconds * 1000:9.1f} {lps:11,.0f} {mbps:7.2f} {ratio:11.2f}x")

    full_ms, cold_ms = cold_start(args.cold_runs)
    print()
    print(
        f"cold start (import + first compile_source, fresh process): {cold_ms:.0f} ms "
        f"(process total {full_ms:.0f} ms minus bare `python -c pass`)"
    )
    pv = rows[1][2]
    print()
    print(
        f"target parse+validate >= {TARGET_LINES_PER_S:,} lines/s: "
        f"{'OK' if pv >= TARGET_LINES_PER_S else 'MISSED'} ({pv:,.0f})"
    )
    print(
        f"target cold start < {TARGET_COLD_START_MS} ms: "
        f"{'OK' if cold_ms < TARGET_COLD_START_MS else 'MISSED'} ({cold_ms:.0f} ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
