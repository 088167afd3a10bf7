"""Every curl example in README.md runs against a live server and gets its documented status."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from ..conftest import bearer

README = Path(__file__).resolve().parents[2] / "README.md"


def _examples() -> list[tuple[str, int]]:
    """(command, expected status) for each `curl` line in a bash block, continuations joined."""
    examples = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        for line in joined.splitlines():
            match = re.match(r"^(curl .*?)\s+#\s*(\d{3})\b", line.strip())
            if match:
                examples.append((match.group(1), int(match.group(2))))
    return examples


EXAMPLES = _examples()


def test_the_readme_has_curl_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize(("command", "status"), EXAMPLES)
def test_readme_curl_example(live_server, transactional_db, command, status):
    host = live_server.url.removeprefix("http://")
    command = command.replace("localhost:8080", host)
    env = {**os.environ, "CODEAI_TOKEN": bearer("admin")["HTTP_AUTHORIZATION"].split()[1]}
    result = subprocess.run(
        ["bash", "-c", f"{command} -s -o /dev/null -w '%{{http_code}}'"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.stdout == str(status), (command, result.stdout, result.stderr)
