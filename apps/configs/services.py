"""Configs: every write compiles the content and records an event."""

from typing import Any

from django.db import transaction

from apps.dsl.services import CompileReport, dsl_compile
from apps.events.services import emit
from codeai.api.exceptions import Conflict

from .models import Config

SOURCE = "config-service"


def _apply_compilation(config: Config, report: CompileReport) -> None:
    config.ast_json = report.ast_json
    config.validation_errors = report.errors or None


def config_create(*, name: str, content: str) -> Config:
    config = Config(name=name, content=content)
    _apply_compilation(config, dsl_compile(source=content))
    with transaction.atomic():
        config.save()
        emit(
            type="config.created",
            source=SOURCE,
            data={"config_id": str(config.id), "name": name, "valid": config.is_valid},
        )
    return config


def config_update(*, config: Config, name: str | None = None, content: str | None = None) -> Config:
    if name is not None:
        config.name = name
    if content is not None:
        config.content = content
        _apply_compilation(config, dsl_compile(source=content))
    with transaction.atomic():
        config.save()
        emit(
            type="config.updated",
            source=SOURCE,
            data={"config_id": str(config.id), "name": config.name, "valid": config.is_valid},
        )
    return config


def config_delete(*, config: Config) -> None:
    """Refuse (409) while deployments use the config, so no deployment loses its program."""
    names = list(config.deployments.values_list("name", flat=True)[:20])
    if names:
        raise Conflict("config is used by deployments", {"deployments": names})
    config_id = str(config.id)
    with transaction.atomic():
        config.delete()
        emit(type="config.deleted", source=SOURCE, data={"config_id": config_id})


def config_openapi(*, config: Config) -> dict[str, Any]:
    """The OpenAPI 3.0 document generated from the config's program; 409 when it is invalid."""
    from apps.dsl.openapi import Config as OpenAPIConfig
    from apps.dsl.openapi import Generator, OpenAPIGenerationError

    if not config.is_valid:
        raise Conflict("config is not valid", {"validation_errors": config.validation_errors or []})
    try:
        return Generator(OpenAPIConfig()).generate_from_source(config.content)
    except OpenAPIGenerationError as exc:
        raise Conflict("config is not valid", {"validation_errors": exc.errors}) from exc


def config_validate(*, config: Config, content: str | None = None) -> dict[str, Any]:
    """Validate the given content, or the stored one; nothing is written."""
    report = dsl_compile(source=config.content if content is None else content)
    return {
        "valid": report.valid,
        "errors": report.prefixed_errors(),
        "diagnostics": report.diagnostics,
    }
