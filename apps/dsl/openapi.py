"""OpenAPI 3.0.3 documents from `.cai` programs (spec §8).

    from apps.dsl.openapi import Config, Generator, ServerConfig

    generator = Generator(Config(title="Orders", servers=[ServerConfig(url="https://api.example")]))
    document = generator.generate_from_source(text)  # a dict
    generator.write_to_file("openapi.yaml", document)

The generator walks the JSON form of spec §3, so it accepts a parsed `Program` or that dict. Only
top-level declarations are used. A source, file or `Program` with parse or validation errors raises
`OpenAPIGenerationError` carrying the compiler's messages; a dict is trusted as given.

Choices beyond spec §8, all made so that every document passes `openapi_spec_validator.validate`:

* Every `$ref` resolves. A request/response type, a `ref(T)` field type or a MongoDB `array(T)`
  item type that names no model or collection of the program gets a minimal `{type: object}`
  schema under `components.schemas`.
* A `default(v)` modifier is emitted only when `v` is a literal that conforms to the field's
  schema (type, enum, int32 range, date/time/uuid formats); others are left out.
* A field schema that is a `$ref` and also gets modifier keywords is written
  `{allOf: [{$ref}], <keywords>}`, because OpenAPI 3.0 ignores siblings of `$ref`.
* A path segment written `{name}` in the DSL is a path parameter too; a `{` or `}` anywhere else
  in a path is percent-encoded, and `{ } : ! [ ]` inside a parameter name become `_`. A
  function handler whose path has `{id}` but no `id` parameter gets one.
* A repeated `operationId` (e.g. `GET /users/:id` and `GET /users/:name`) gets `_2`, `_3`, … on
  its later uses.
* Function handlers answer `200`/`400`/`500`; they have no tags. Top-level `tags` come from the
  first segment of every path in the document (endpoints and function handlers) that is not empty
  and not a parameter.
* MongoDB types the spec does not list: `string` string, `int` integer, `bool`/`boolean`
  boolean, `regex` string with format `regex`, `null` `{nullable: true}`, `mixed` `{}`.
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apps.dsl.interpreter import decode_string

__all__ = ["Config", "Generator", "OpenAPIGenerationError", "ServerConfig"]

OPENAPI_VERSION = "3.0.3"
_REF_PREFIX = "#/components/schemas/"

_STATUS_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}

_HANDLER_PREFIXES = [
    ("get", "GET"),
    ("list", "GET"),
    ("fetch", "GET"),
    ("create", "POST"),
    ("add", "POST"),
    ("new", "POST"),
    ("post", "POST"),
    ("update", "PUT"),
    ("put", "PUT"),
    ("edit", "PUT"),
    ("patch", "PATCH"),
    ("delete", "DELETE"),
    ("remove", "DELETE"),
]
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

_MODEL_TYPES: dict[str, dict] = {
    "string": {"type": "string"},
    "text": {"type": "string"},
    "int": {"type": "integer", "format": "int32"},
    "integer": {"type": "integer", "format": "int32"},
    "decimal": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "boolean": {"type": "boolean"},
    "uuid": {"type": "string", "format": "uuid"},
    "timestamp": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "time": {"type": "string", "format": "time"},
    "json": {"type": "object"},
    "jsonb": {"type": "object"},
}

_MONGO_TYPES: dict[str, dict] = {
    "objectid": {"type": "string", "format": "objectid", "pattern": "^[a-fA-F0-9]{24}$"},
    "string": {"type": "string"},
    "int": {"type": "integer"},
    "integer": {"type": "integer"},
    "int32": {"type": "integer", "format": "int32"},
    "int64": {"type": "integer", "format": "int64"},
    "double": {"type": "number"},
    "decimal": {"type": "string", "format": "decimal"},
    "bool": {"type": "boolean"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date-time"},
    "timestamp": {"type": "string", "format": "date-time"},
    "binary": {"type": "string", "format": "binary"},
    "object": {"type": "object"},
    "regex": {"type": "string", "format": "regex"},
    "null": {"nullable": True},
    "mixed": {},
}


@dataclass
class ServerConfig:
    url: str
    description: str = ""


@dataclass
class Config:
    """Generator settings; every field is optional. `title`/`version` override the program's."""

    title: str | None = None
    version: str | None = None
    description: str | None = None
    servers: list[ServerConfig] = field(default_factory=list)


class OpenAPIGenerationError(Exception):
    """The program cannot be turned into a document; `errors` holds the compiler's messages."""

    def __init__(self, message: str, errors: list[str] | None = None):
        self.errors = list(errors or [])
        details = "".join(f"\n  {error}" for error in self.errors)
        super().__init__(message + details)
        self.message = message


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _decode(raw: str) -> str:
    return decode_string(raw)


def _source(node: dict) -> str:
    pos = node.get("Pos") or {}
    return f"{pos.get('Line', 0)}:{pos.get('Column', 0)}"


def _ref(name: str) -> dict:
    return {"$ref": _REF_PREFIX + name}


def _go_title(text: str) -> str:
    """Upper-case every letter that starts a word (Go's strings.Title)."""
    out = []
    previous = " "
    for char in text:
        at_start = not (previous.isalnum() or previous == "_")
        out.append(char.upper() if at_start else char)
        previous = char
    return "".join(out)


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("es"):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _summary(method: str, template: str, has_params: bool) -> str:
    first = template.strip("/").split("/")[0]
    resource = _go_title(first.replace("_", " ")).strip()
    singular = _singular(resource)
    text = {
        "GET": f"Get {singular} by ID" if has_params else f"List {resource}",
        "POST": f"Create {singular}",
        "PUT": f"Update {singular}",
        "PATCH": f"Partially update {singular}",
        "DELETE": f"Delete {singular}",
    }.get(method, f"{method} {resource}")
    return text.strip()


_ALNUM_RUN = re.compile(r"[^\W_]+")


def _operation_id(method: str, path: str) -> str:
    parts = [method.lower()]
    for segment in path.strip("/").split("/"):
        if segment.startswith(":") or (segment.startswith("{") and segment.endswith("}")):
            parts.append("ById")
        else:
            parts.append(_ALNUM_RUN.sub(lambda m: m.group(0)[0].upper() + m.group(0)[1:], segment))
    return "".join(parts)


def _is_param_segment(segment: str) -> bool:
    return (segment.startswith(":") and len(segment) > 1) or (
        len(segment) > 2
        and segment.startswith("{")
        and segment.endswith("}")
        and "{" not in segment[1:-1]
        and "}" not in segment[1:-1]
    )


_TEMPLATE_SYNTAX = re.compile(r"[{}:!\[\]]")


def _template(path: str) -> tuple[str, list[str]]:
    """`/users/:id` → (`/users/{id}`, ["id"]); stray braces are percent-encoded."""
    segments, params = [], []
    for segment in path.split("/"):
        if _is_param_segment(segment):
            name = segment[1:] if segment.startswith(":") else segment[1:-1]
            # Template syntax inside a name (`{a:b}` reads as a format spec) would break it.
            name = _TEMPLATE_SYNTAX.sub("_", name)
            segments.append("{" + name + "}")
            if name not in params:
                params.append(name)
        else:
            segments.append(segment.replace("{", "%7B").replace("}", "%7D"))
    return "/".join(segments), params


def _snake(text: str) -> str:
    out = []
    for index, char in enumerate(text):
        if index > 0 and "A" <= char <= "Z":
            out.append("_")
        out.append(char)
    return "".join(out).lower()


def _handler_route(name: str) -> tuple[str, str] | None:
    """Method and path of a function named like an HTTP handler, else None."""
    lower = name.lower()
    if lower.startswith("handle"):
        parts = name.split("_", 2)
        if len(parts) < 2 or parts[1].upper() not in _METHODS:
            return None
        rest = _snake(parts[2]) if len(parts) == 3 else ""
        return parts[1].upper(), "/" + rest
    for prefix, method in _HANDLER_PREFIXES:
        if lower.startswith(prefix):
            rest = name[len(prefix) :].removeprefix("_")
            with_id = rest.lower().endswith("byid")
            if with_id:
                rest = rest[:-4]
            path = "/" + _snake(rest)
            if with_id:
                path = path.rstrip("/") + "/{id}"
            return method, path
    return None


def _literal(expr: dict | None) -> tuple[bool, Any]:
    if expr is None:
        return False, None
    kind = expr.get("Kind")
    if kind == "StringLiteral":
        return True, _decode(expr["Value"])
    if kind == "NumberLiteral":
        value = expr["Value"]
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            value = int(value)
        return True, value
    if kind == "BoolLiteral":
        return True, bool(expr["Value"])
    return False, None


_DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _format_fits(fmt: str | None, value: str) -> bool:
    try:
        if fmt == "date":
            return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)) and bool(
                datetime.date.fromisoformat(value)
            )
        if fmt == "date-time":
            return bool(_DATE_TIME_RE.match(value)) and bool(
                datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            )
        if fmt == "time":
            return bool(re.fullmatch(r"\d{2}:\d{2}:\d{2}", value)) and bool(
                datetime.time.fromisoformat(value)
            )
        if fmt == "uuid":
            return bool(_UUID_RE.match(value)) and bool(uuid.UUID(value))
    except ValueError:
        return False
    return True


def _default_fits(schema: dict, value: Any) -> bool:
    if "enum" in schema:
        return value in schema["enum"] and not isinstance(value, bool)
    kind = schema.get("type")
    if kind == "string":
        return isinstance(value, str) and _format_fits(schema.get("format"), value)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return schema.get("format") != "int32" or -(2**31) <= value < 2**31
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return False


# --------------------------------------------------------------------------------------------
# The document builder
# --------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, config: Config):
        self.config = config
        self.paths: dict[str, dict[str, dict]] = {}
        self.schemas: dict[str, dict] = {}
        self.security_schemes: dict[str, dict] = {}
        self.referenced: list[str] = []
        self.title: str | None = None
        self.version: str | None = None

    def reference(self, name: str) -> dict:
        if name not in self.referenced:
            self.referenced.append(name)
        return _ref(name)

    def build(self, program: dict) -> dict:
        for statement in program.get("Statements") or []:
            kind = statement.get("Kind")
            if kind == "ConfigDecl":
                self.read_config(statement)
            elif kind == "EndpointDecl":
                self.add_endpoint(statement)
            elif kind == "FunctionDecl":
                self.add_function(statement)
            elif kind == "DatabaseBlock":
                for item in statement.get("Statements") or []:
                    if item.get("Kind") == "ModelDecl":
                        self.schemas[item["Name"]] = self.model_schema(item)
                    elif item.get("Kind") == "CollectionDecl":
                        self.schemas[item["Name"]] = self.collection_schema(item)
            elif kind == "AuthDecl":
                self.security_schemes[statement["Name"]] = self.security_scheme(statement)
        for name in self.referenced:
            self.schemas.setdefault(name, {"type": "object"})
        return self.document()

    def document(self) -> dict:
        info: dict[str, Any] = {
            "title": self.config.title or self.title or "API",
            "version": self.config.version or self.version or "1.0.0",
        }
        if self.config.description:
            info["description"] = self.config.description
        document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
        if self.config.servers:
            document["servers"] = [
                {
                    "url": server.url,
                    **({"description": server.description} if server.description else {}),
                }
                for server in self.config.servers
            ]
        first_segments = set()
        for path in self.paths:
            first = path.strip("/").split("/")[0]
            if first and not first.startswith("{"):
                first_segments.add(first)
        document["tags"] = [
            {"name": name, "description": f"Operations for {name}"}
            for name in sorted(first_segments)
        ]
        self.assign_unique_operation_ids()
        document["paths"] = self.paths
        document["components"] = {
            "schemas": self.schemas,
            "securitySchemes": self.security_schemes,
        }
        return document

    def assign_unique_operation_ids(self) -> None:
        seen: set[str] = set()
        for operations in self.paths.values():
            for operation in operations.values():
                base = operation["operationId"]
                candidate, counter = base, 1
                while candidate in seen:
                    counter += 1
                    candidate = f"{base}_{counter}"
                seen.add(candidate)
                operation["operationId"] = candidate

    def read_config(self, node: dict) -> None:
        properties = node.get("Properties") or {}
        is_literal, name = _literal(properties.get("name"))
        if is_literal and isinstance(name, str):
            self.title = name
        is_literal, version = _literal(properties.get("version"))
        if is_literal and not isinstance(version, bool):
            self.version = str(version)

    def put_operation(self, template: str, method: str, operation: dict) -> None:
        self.paths.setdefault(template, {})[method.lower()] = operation

    # -- endpoints --------------------------------------------------------------------------

    def add_endpoint(self, node: dict) -> None:
        method = node["Method"]
        path = _decode(node["Path"])
        template, path_params = _template(path)
        first = path.strip("/").split("/")[0]
        tags = [first] if first and not (first.startswith(":") or _is_param_segment(first)) else []
        operation: dict[str, Any] = {
            "tags": tags,
            "summary": _summary(method, template, bool(path_params)),
            "operationId": _operation_id(method, path),
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in path_params
            ],
        }
        handler = node.get("Handler") or {}
        request, response = handler.get("Request"), handler.get("Response")
        if request is not None:
            type_name, source = request["TypeName"], request["Source"]
            if source == "query":
                operation["parameters"].append(
                    {
                        "name": "query",
                        "in": "query",
                        "style": "form",
                        "explode": True,
                        "schema": self.reference(type_name),
                    }
                )
            elif source == "header":
                operation["parameters"].append(
                    {"name": type_name, "in": "header", "schema": {"type": "string"}}
                )
            elif source == "body":
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": self.reference(type_name)}},
                }
        responses: dict[str, dict] = {}
        if response is not None:
            status = int(response["StatusCode"])
            responses[str(status)] = {
                "description": _STATUS_DESCRIPTIONS.get(status, f"Response {status}"),
                "content": {"application/json": {"schema": self.reference(response["TypeName"])}},
            }
        else:
            responses["200"] = {"description": "Success"}
        for status in (400, 401, 500):
            responses.setdefault(str(status), {"description": _STATUS_DESCRIPTIONS[status]})
        operation["responses"] = responses
        for annotation in node.get("Annotations") or []:
            self.apply_annotation(operation, annotation)
        if not operation["tags"]:
            del operation["tags"]
        if not operation["parameters"]:
            del operation["parameters"]
        operation["x-codeai-source"] = _source(node)
        middlewares = [mw["Name"] for mw in node.get("Middlewares") or []]
        if middlewares:
            operation["x-codeai-middleware"] = middlewares
        self.put_operation(template, method, operation)

    def apply_annotation(self, operation: dict, annotation: dict) -> None:
        name = annotation["Name"].lower()
        value = _decode(annotation.get("Value") or "")
        if name == "deprecated":
            operation["deprecated"] = True
        elif name == "auth":
            if value:
                operation.setdefault("security", []).append({value: []})
        elif name in ("summary", "description"):
            operation[name] = value
        elif name in ("tag", "tags") and value and value not in operation["tags"]:
            operation["tags"].append(value)

    # -- function handlers ------------------------------------------------------------------

    def add_function(self, node: dict) -> None:
        route = _handler_route(node["Name"])
        if route is None:
            return
        method, path = route
        template, path_params = _template(path)
        parameters = []
        names = []
        for param in node.get("Params") or []:
            name = param["Name"]
            names.append(name)
            if name in path_params:
                parameters.append(
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                )
            else:
                parameters.append({"name": name, "in": "query", "schema": {"type": "string"}})
        for name in path_params:
            if name not in names:
                parameters.append(
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                )
        operation: dict[str, Any] = {
            "summary": _summary(method, template, bool(path_params)),
            "operationId": node["Name"],
        }
        if parameters:
            operation["parameters"] = parameters
        operation["responses"] = {
            "200": {"description": "Success"},
            "400": {"description": "Bad Request"},
            "500": {"description": "Internal Server Error"},
        }
        operation["x-codeai-handler"] = node["Name"]
        operation["x-codeai-source"] = _source(node)
        self.put_operation(template, method, operation)

    # -- schemas ----------------------------------------------------------------------------

    def model_type(self, type_ref: dict | None) -> dict:
        if type_ref is None:
            return {"type": "object"}
        name = (type_ref.get("Name") or "").lower()
        params = type_ref.get("Params") or []
        if name in ("list", "array"):
            items = self.model_type(params[0]) if params else {}
            return {"type": "array", "items": items}
        if name == "ref":
            return self.reference(params[0]["Name"]) if params else {"type": "object"}
        if name == "enum":
            values: list[str] = []
            for param in params:
                if param["Name"] not in values:
                    values.append(param["Name"])
            return {"type": "string", "enum": values} if values else {"type": "string"}
        if name in _MODEL_TYPES:
            return dict(_MODEL_TYPES[name])
        return self.reference(type_ref.get("Name") or "object")

    def model_schema(self, node: dict) -> dict:
        schema: dict[str, Any] = {"type": "object"}
        if node.get("Description"):
            schema["description"] = _decode(node["Description"])
        properties: dict[str, dict] = {}
        required: list[str] = []
        for field_node in node.get("Fields") or []:
            name = field_node["Name"]
            field_schema = self.model_type(field_node.get("FieldType"))
            extra: dict[str, Any] = {}
            notes: list[str] = []
            for modifier in field_node.get("Modifiers") or []:
                modifier_name = modifier["Name"].lower()
                if modifier_name == "primary":
                    notes.append("Primary key")
                elif modifier_name == "unique":
                    notes.append("Unique")
                elif modifier_name == "auto":
                    extra["readOnly"] = True
                elif modifier_name == "optional":
                    extra["nullable"] = True
                elif modifier_name == "required" and name not in required:
                    required.append(name)
                elif modifier_name == "default":
                    is_literal, value = _literal(modifier.get("Value"))
                    if is_literal and _default_fits(field_schema, value):
                        extra["default"] = value
            if notes:
                extra["description"] = ". ".join(notes)
            if extra and "$ref" in field_schema:
                field_schema = {"allOf": [field_schema]}
            for key in ("description", "readOnly", "nullable", "default"):
                if key in extra:
                    field_schema[key] = extra[key]
            properties[name] = field_schema
        schema["properties"] = properties
        if required:
            schema["required"] = required
        schema["x-database-type"] = "postgres"
        return schema

    def mongo_type(self, type_ref: dict | None) -> dict:
        if type_ref is None:
            return {"type": "object"}
        embedded = type_ref.get("EmbeddedDoc")
        if embedded is not None:
            return self.mongo_object(embedded.get("Fields"), {"type": "object"})
        name = type_ref.get("Name") or ""
        lower = name.lower()
        if lower == "array":
            params = type_ref.get("Params") or []
            return {"type": "array", "items": self.mongo_named(params[0]) if params else {}}
        return self.mongo_named(name)

    def mongo_named(self, name: str) -> dict:
        lower = name.lower()
        if lower in _MONGO_TYPES:
            return dict(_MONGO_TYPES[lower])
        if lower == "array":
            return {"type": "array", "items": {}}
        return self.reference(name)

    def mongo_object(self, fields: list[dict] | None, schema: dict) -> dict:
        properties: dict[str, dict] = {}
        required: list[str] = []
        for field_node in fields or []:
            name = field_node["Name"]
            properties[name] = self.mongo_type(field_node.get("FieldType"))
            optional = any(
                modifier["Name"].lower() == "optional"
                for modifier in field_node.get("Modifiers") or []
            )
            if not optional and name not in required:
                required.append(name)
        schema["properties"] = properties
        if required:
            schema["required"] = required
        return schema

    def collection_schema(self, node: dict) -> dict:
        name = node["Name"]
        description = node.get("Description") or ""
        schema = {
            "type": "object",
            "description": _decode(description) if description else f"MongoDB collection: {name}",
        }
        self.mongo_object(node.get("Fields"), schema)
        schema["x-mongo-collection"] = name
        return schema

    # -- security ---------------------------------------------------------------------------

    def security_scheme(self, node: dict) -> dict:
        name, method = node["Name"], node["Method"]
        description = f"{name} authentication"
        if method == "jwt":
            jwks = node.get("JWKS")
            if jwks is not None:
                description = f"JWT authentication (JWKS: {_decode(jwks.get('URL') or '')})"
            return {
                "type": "http",
                "description": description,
                "scheme": "bearer",
                "bearerFormat": "JWT",
            }
        if method == "oauth2":
            return {"type": "oauth2", "description": description, "flows": {}}
        if method == "apikey":
            return {
                "type": "apiKey",
                "description": description,
                "in": "header",
                "name": "X-API-Key",
            }
        return {"type": "http", "description": description, "scheme": "basic"}


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


class Generator:
    def __init__(self, config: Config | None = None):
        self.config = config or Config()

    def generate_from_source(self, text: str) -> dict:
        from apps.dsl.compiler import DslSyntaxError, parse

        try:
            program = parse(text)
        except DslSyntaxError as err:
            raise OpenAPIGenerationError(
                "cannot generate OpenAPI: the program has a syntax error", [str(err)]
            ) from err
        return self.generate_from_program(program)

    def generate_from_file(self, path: str | Path) -> dict:
        # Bytes, not text mode: newline translation would move columns ("\r" is one, spec §1.1).
        return self.generate_from_source(Path(path).read_bytes().decode("utf-8"))

    def generate_from_program(self, program: Any) -> dict:
        """A document from a `Program` (validated first) or its JSON form (trusted)."""
        if isinstance(program, dict):
            tree = program
        else:
            from apps.dsl.compiler import to_json, validate

            diagnostics = validate(program)
            if diagnostics:
                raise OpenAPIGenerationError(
                    "cannot generate OpenAPI: the program has validation errors",
                    [str(diagnostic) for diagnostic in diagnostics],
                )
            tree = to_json(program)
        return _Builder(self.config).build(tree)

    def write_to_file(self, path: str | Path, spec: dict) -> None:
        """YAML for .yaml/.yml, JSON for .json; any other extension raises ValueError."""
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix in (".yaml", ".yml"):
            text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=1000)
        elif suffix == ".json":
            text = json.dumps(spec, indent=2, ensure_ascii=False) + "\n"
        else:
            raise ValueError(
                f"unsupported output format {target.suffix or '(none)'!r}: use .yaml, .yml or .json"
            )
        target.write_text(text, encoding="utf-8")
