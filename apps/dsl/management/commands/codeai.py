"""`manage.py codeai parse|validate|openapi FILE`: the DSL tools at a shell (no database needed).

Exit codes: 0 success; 1 the program has a parse or validation error (each message on stderr as
`FILE:L:C: ...`); 2 the file cannot be read, or the output cannot be written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.dsl.openapi import Config, Generator, OpenAPIGenerationError, ServerConfig

_SCALARS = (str, int, float, bool, type(None))


def _read_source(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file", returncode=2) from None
    except IsADirectoryError:
        raise CommandError(f"{path}: is a directory, not a .cai file", returncode=2) from None
    except OSError as err:
        raise CommandError(
            f"{path}: cannot read file: {err.strerror or err}", returncode=2
        ) from None
    try:
        # Bytes, not text mode: the language counts "\r" as a column (spec §1.1).
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CommandError(
            f"{path}: not valid UTF-8 (byte {err.start}): {err.reason}", returncode=2
        ) from None


def _is_node(value: Any) -> bool:
    return isinstance(value, dict) and "Kind" in value


def _node_header(node: dict) -> str:
    pos = node.get("Pos") or {}
    inline = []
    for key, value in node.items():
        if key in ("Kind", "Pos"):
            continue
        if isinstance(value, _SCALARS) or (
            isinstance(value, list) and not any(_is_node(item) for item in value)
        ):
            inline.append(f"{key}={json.dumps(value, ensure_ascii=False)}")
    header = f"{node['Kind']} ({pos.get('Line', '?')}:{pos.get('Column', '?')})"
    return " ".join([header, *inline])


def _tree_lines(node: dict, depth: int = 0, label: str = "") -> list[str]:
    """An indented, readable rendering of a JSON AST node (spec §3)."""
    pad = "  " * depth
    lines = [f"{pad}{label}{_node_header(node)}"]
    for key, value in node.items():
        if key in ("Kind", "Pos"):
            continue
        if _is_node(value):
            lines.extend(_tree_lines(value, depth + 1, f"{key}: "))
        elif isinstance(value, list) and any(_is_node(item) for item in value):
            lines.append(f"{pad}  {key}:")
            for item in value:
                lines.extend(_tree_lines(item, depth + 2))
        elif isinstance(value, dict):  # maps: Properties, Config
            if not value:
                lines.append(f"{pad}  {key}: {{}}")
                continue
            lines.append(f"{pad}  {key}:")
            for name, item in value.items():
                if _is_node(item):
                    lines.extend(_tree_lines(item, depth + 2, f"{name}: "))
                else:
                    lines.append(f"{pad}    {name}: {json.dumps(item, ensure_ascii=False)}")
    return lines


class Command(BaseCommand):
    help = "CodeAI DSL tools: parse, validate, or generate an OpenAPI document from a .cai file."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        subcommands = parser.add_subparsers(
            dest="subcommand", required=True, metavar="{parse,validate,openapi}"
        )

        parse = subcommands.add_parser("parse", help="print the AST of a .cai file")
        parse.add_argument("file", help="path to a .cai file")
        parse.add_argument(
            "--format",
            choices=["json", "text"],
            default="json",
            help="json: the AST's JSON form (spec §3); text: an indented tree",
        )

        validate = subcommands.add_parser("validate", help="parse and validate a .cai file")
        validate.add_argument("file", help="path to a .cai file")

        openapi = subcommands.add_parser("openapi", help="write an OpenAPI 3.0.3 document")
        openapi.add_argument("file", help="path to a .cai file")
        openapi.add_argument(
            "-o", "--output", required=True, help="output path ending in .yaml, .yml or .json"
        )
        openapi.add_argument("--title", help="info.title (overrides the config block's name)")
        openapi.add_argument(
            "--version", dest="api_version", help="info.version (overrides the config block's)"
        )
        openapi.add_argument("--description", help="info.description")
        openapi.add_argument(
            "--server",
            action="append",
            default=[],
            metavar="URL",
            help="a server URL (repeatable)",
        )

    def handle(self, *args, **options):
        handler = {
            "parse": self.handle_parse,
            "validate": self.handle_validate,
            "openapi": self.handle_openapi,
        }[options["subcommand"]]
        handler(options)

    def fail(self, path: str, messages: list[str]) -> None:
        for message in messages:
            self.stderr.write(f"{path}:{message}")
        sys.exit(1)

    def handle_parse(self, options: dict) -> None:
        from apps.dsl.compiler import DslSyntaxError, parse, to_json, to_json_text

        path = options["file"]
        source = _read_source(path)
        try:
            program = parse(source)
        except DslSyntaxError as err:
            self.fail(path, [str(err)])
            return
        tree = to_json(program)
        if options["format"] == "text":
            self.stdout.write("\n".join(_tree_lines(tree)))
        else:
            self.stdout.write(to_json_text(tree, indent=2))

    def handle_validate(self, options: dict) -> None:
        from apps.dsl.compiler import compile_source

        path = options["file"]
        result = compile_source(_read_source(path))
        if result.errors:
            self.fail(path, result.errors)
            return
        self.stdout.write(f"{path}: valid")

    def handle_openapi(self, options: dict) -> None:
        path, output = options["file"], options["output"]
        if Path(output).suffix.lower() not in (".yaml", ".yml", ".json"):
            raise CommandError(
                f"{output}: unsupported output format; use .yaml, .yml or .json", returncode=2
            )
        source = _read_source(path)
        generator = Generator(
            Config(
                title=options.get("title"),
                version=options.get("api_version"),
                description=options.get("description"),
                servers=[ServerConfig(url=url) for url in options.get("server") or []],
            )
        )
        try:
            document = generator.generate_from_source(source)
        except OpenAPIGenerationError as err:
            self.fail(path, err.errors)
            return
        try:
            generator.write_to_file(output, document)
        except OSError as err:
            raise CommandError(
                f"{output}: cannot write file: {err.strerror or err}", returncode=2
            ) from None
        self.stdout.write(
            f"{path}: wrote {output} ({len(document['paths'])} paths, "
            f"{len(document['components']['schemas'])} schemas)"
        )
