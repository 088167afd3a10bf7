"""The handler registry: `task_type` → a callable `(payload, context) -> JSON-serialisable result`.

Sources, later ones winning on a name clash: the built-ins below, `register()` (for apps that
ship their own handler from `AppConfig.ready()`), then `CODEAI_TASK_HANDLERS`: entries separated
by spaces or commas, each `name=module.path:callable` (or `name=module.path.callable`), or just
`module.path:callable` / `module.path.callable`, whose task type is then the dotted path itself.
Custom handlers are imported when a job first runs, so the web process needs only their names.
"""

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import agent, builtin, http
from .base import JobContext, JobError, JobTimeout, PermanentJobError

__all__ = [
    "Handler",
    "JobContext",
    "JobError",
    "JobTimeout",
    "PermanentJobError",
    "get_handler",
    "handler_names",
    "register",
]

HandlerFunc = Callable[[Any, JobContext], Any]
PayloadValidator = Callable[[Any], dict[str, str]]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,199}$")
_TARGET = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*([:.][A-Za-z_]\w*)$")


@dataclass(frozen=True)
class Handler:
    name: str
    func: HandlerFunc | None = None
    target: str = ""  # "module:attribute", imported on first use
    validate: PayloadValidator | None = None

    def load(self) -> HandlerFunc:
        if self.func is not None:
            return self.func
        return _import_target(self.name, self.target)


BUILTINS: dict[str, Handler] = {
    "echo": Handler("echo", builtin.echo),
    "http.request": Handler("http.request", http.http_request, validate=http.validate_payload),
    "agent.run": Handler("agent.run", agent.agent_run, validate=agent.validate_payload),
    "cleanup": Handler("cleanup", builtin.cleanup, validate=builtin.validate_cleanup),
    "workflow.start": Handler("workflow.start", builtin.workflow_start),
    "deployment.execute": Handler(
        "deployment.execute",
        builtin.deployment_execute,
        validate=builtin.validate_deployment_execute,
    ),
}
_registered: dict[str, Handler] = {}


def register(name: str, func: HandlerFunc, *, validate: PayloadValidator | None = None) -> None:
    """Add or replace a handler (call from an AppConfig.ready() so every process has it)."""
    if not _NAME.match(name):
        raise ValueError(f"invalid task type name {name!r}")
    _registered[name] = Handler(name, func, validate=validate)


def _split_target(text: str) -> str:
    """`a.b:c` or `a.b.c` → `a.b:c`."""
    if not _TARGET.match(text):
        raise ValueError(text)
    if ":" in text:
        return text
    module, _, attribute = text.rpartition(".")
    if not module:
        raise ValueError(text)
    return f"{module}:{attribute}"


@lru_cache(maxsize=8)
def _configured(spec: str) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for item in spec.replace(",", " ").split():
        name, sep, target = item.partition("=")
        if not sep:
            name, target = item.replace(":", "."), item
        try:
            target = _split_target(target)
        except ValueError:
            raise ImproperlyConfigured(
                f"CODEAI_TASK_HANDLERS: {item!r} is not name=module.path:callable "
                "or module.path.callable"
            ) from None
        if not _NAME.match(name):
            raise ImproperlyConfigured(f"CODEAI_TASK_HANDLERS: invalid task type name {name!r}")
        handlers[name] = Handler(name, target=target)
    return handlers


def registered_handlers() -> dict[str, Handler]:
    return {
        **BUILTINS,
        **_registered,
        **_configured(getattr(settings, "CODEAI_TASK_HANDLERS", "") or ""),
    }


def handler_names() -> list[str]:
    return sorted(registered_handlers())


def get_handler(name: str) -> Handler | None:
    return registered_handlers().get(name)


def _import_target(name: str, target: str) -> HandlerFunc:
    module_name, _, attribute = target.partition(":")
    try:
        func = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise PermanentJobError(f"handler {name} ({target}) cannot be loaded: {exc}") from None
    if not callable(func):
        raise PermanentJobError(f"handler {name} ({target}) is not callable")
    return func
