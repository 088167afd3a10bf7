"""The validator (spec §5): every rule, message and ordering.

The program is walked in source order, depth first; each node's rules run when the node is
visited, in the order the spec lists them; D1 and D2 are emitted after the walk. Positions are
the ``Pos`` of the node named in each rule. The walk uses a bounded number of Python frames per
nesting level, and the parser bounds nesting, so it cannot overflow the stack.
"""

from __future__ import annotations

import re

from . import nodes as N
from .checks import cron_error, is_duration, url_error
from .errors import Diagnostic, quote

SCOPE = "ScopeError"
FUNCTION = "FunctionError"
TYPE = "TypeError"
SEMANTIC = "SemanticError"

# symbol kinds
_VARIABLE, _PARAMETER, _FUNCTION = 0, 1, 2
# expression types (None = unknown)
_STRING, _NUMBER, _BOOL, _ARRAY, _FUNC_T = "string", "number", "bool", "array", "function"

_MODEL_TYPES = frozenset(
    [
        "uuid",
        "string",
        "text",
        "integer",
        "int",
        "decimal",
        "boolean",
        "bool",
        "timestamp",
        "date",
        "time",
        "json",
        "jsonb",
        "list",
        "array",
        "ref",
        "enum",
    ]
)
_MODEL_TYPES_MSG = (
    "uuid, string, text, integer, decimal, boolean, timestamp, date, time, json, list, ref, enum"
)
_MONGO_TYPES = frozenset(
    [
        "objectid",
        "string",
        "int",
        "int32",
        "int64",
        "double",
        "decimal",
        "bool",
        "boolean",
        "date",
        "timestamp",
        "binary",
        "regex",
        "array",
        "object",
        "null",
        "mixed",
    ]
)
_MONGO_TYPES_MSG = (
    "objectid, string, int, int32, int64, double, decimal, bool, date, timestamp, binary, "
    "array, object"
)
_MONGO_BAD_MODIFIERS = frozenset(["foreign_key", "references", "on_delete", "on_update", "cascade"])
_MAX_EMBED_DEPTH = 10
_MIDDLEWARE_TYPES = [
    "authentication",
    "authorization",
    "rate_limiting",
    "logging",
    "cors",
    "compression",
    "cache",
    "custom",
]
_RATE_STRATEGIES = ["fixed_window", "sliding_window", "token_bucket", "leaky_bucket"]
_EVENT_FIELD_TYPES = frozenset(
    [
        "string",
        "int",
        "integer",
        "decimal",
        "float",
        "bool",
        "boolean",
        "timestamp",
        "datetime",
        "array",
        "object",
        "uuid",
    ]
)
_EVENT_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z][a-zA-Z0-9_]*)?")
_TRIGGER_EVENT = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z][a-zA-Z0-9_]*)*")
_PATH_PARAM = re.compile(r":([a-zA-Z_][a-zA-Z0-9_]*)")


class _Symbol:
    __slots__ = ("kind", "nparams", "type")

    def __init__(self, kind: int, type_: str | None = None, nparams: int = 0):
        self.kind = kind
        self.type = type_
        self.nparams = nparams


def _builtins() -> dict[str, _Symbol]:
    return {"print": _Symbol(_FUNCTION, None, 1), "len": _Symbol(_FUNCTION, None, 1)}


def _collect_names(program: N.Program) -> tuple[set[str], set[str]]:
    """Names of every auth and role declaration anywhere in the program (for W4/W5)."""
    auths: set[str] = set()
    roles: set[str] = set()
    stack: list = list(program.statements)
    while stack:
        node = stack.pop()
        cls = type(node)
        if cls is N.AuthDecl:
            auths.add(node.name)
        elif cls is N.RoleDecl:
            roles.add(node.name)
        elif cls is N.IfStmt:
            stack.extend(node.then.statements)
            if node.else_ is not None:
                stack.extend(node.else_.statements)
        elif cls is N.ForLoop or cls is N.FunctionDecl:
            stack.extend(node.body.statements)
    return auths, roles


class _Validator:
    def __init__(self, program: N.Program):
        self.program = program
        self.position = program.position
        self.diags: list[Diagnostic] = []
        self.scopes: list[dict[str, _Symbol]] = [_builtins()]
        self.auth_names, self.role_names = _collect_names(program)
        self.first_config: N.Node | None = None
        self.db_blocks: list[N.Node] = []
        self.auths: dict[str, N.Node] = {}
        self.roles: dict[str, N.Node] = {}
        self.middlewares: dict[str, N.Node] = {}
        self.events: dict[str, N.Node] = {}
        self.integrations: dict[str, N.Node] = {}
        self.webhooks: dict[str, N.Node] = {}
        self.endpoints: dict[str, N.Node] = {}
        self.workflows: set[str] = set()
        self.jobs: set[str] = set()
        self.dispatch = {
            N.VarDecl: self.var_decl,
            N.Assignment: self.assignment,
            N.IfStmt: self.if_stmt,
            N.ForLoop: self.for_loop,
            N.FunctionDecl: self.function_decl,
            N.ExecBlock: _ignore,
            N.FunctionCall: self.expr,
            N.ConfigDecl: self.config_decl,
            N.DatabaseBlock: self.database_block,
            N.AuthDecl: self.auth_decl,
            N.RoleDecl: self.role_decl,
            N.MiddlewareDecl: self.middleware_decl,
            N.EventDecl: self.event_decl,
            N.EventHandler: _ignore,
            N.IntegrationDecl: self.integration_decl,
            N.WebhookDecl: self.webhook_decl,
            N.EndpointDecl: self.endpoint_decl,
            N.WorkflowDecl: self.workflow_decl,
            N.JobDecl: self.job_decl,
        }

    # -- helpers ----------------------------------------------------------------------------

    def add(self, node: N.Node, kind: str, message: str) -> None:
        line, column = self.position(node.pos)
        self.diags.append(Diagnostic(line, column, kind, message))

    def where(self, node: N.Node) -> str:
        line, column = self.position(node.pos)
        return f"{line}:{column}"

    def lookup(self, name: str) -> _Symbol | None:
        for scope in reversed(self.scopes):
            sym = scope.get(name)
            if sym is not None:
                return sym
        return None

    def statements(self, stmts) -> None:
        dispatch = self.dispatch
        for stmt in stmts:
            dispatch[type(stmt)](stmt)

    def scoped_block(self, block: N.Node, scope: dict[str, _Symbol] | None = None) -> None:
        self.scopes.append(scope if scope is not None else {})
        try:
            self.statements(block.statements)
        finally:
            self.scopes.pop()

    def run(self) -> list[Diagnostic]:
        self.statements(self.program.statements)
        self.database_consistency()
        return self.diags

    # -- expressions (S1, S5-S7) -------------------------------------------------------------

    def expr(self, node: N.Node) -> None:
        cls = type(node)
        if cls is N.Identifier:
            if self.lookup(node.name) is None:
                self.add(node, SCOPE, f"undefined variable '{node.name}'")
        elif cls is N.FunctionCall:
            for arg in node.args:
                self.expr(arg)
            sym = self.lookup(node.name)
            if sym is None:
                self.add(node, FUNCTION, f"undefined function '{node.name}'")
            elif sym.kind != _FUNCTION:
                self.add(node, FUNCTION, f"'{node.name}' is not a function")
            elif len(node.args) != sym.nparams:
                self.add(
                    node,
                    FUNCTION,
                    f"wrong number of arguments for '{node.name}': "
                    f"expected {sym.nparams}, got {len(node.args)}",
                )
        elif cls is N.ArrayLiteral:
            for element in node.elements:
                self.expr(element)

    def type_of(self, node: N.Node) -> str | None:
        cls = type(node)
        if cls is N.StringLiteral:
            return _STRING
        if cls is N.NumberLiteral:
            return _NUMBER
        if cls is N.BoolLiteral:
            return _BOOL
        if cls is N.ArrayLiteral:
            return _ARRAY
        if cls is N.Identifier:
            sym = self.lookup(node.name)
            return sym.type if sym is not None else None
        return None

    # -- scripting statements (S1-S8) --------------------------------------------------------

    def var_decl(self, node: N.Node) -> None:
        self.expr(node.value)
        scope = self.scopes[-1]
        if node.name in scope:
            self.add(node, SCOPE, f"duplicate declaration '{node.name}'")
            return
        scope[node.name] = _Symbol(_VARIABLE, self.type_of(node.value))

    def assignment(self, node: N.Node) -> None:
        self.expr(node.value)
        sym = self.lookup(node.name)
        if sym is None:
            self.add(node, SCOPE, f"undefined variable '{node.name}'")
            return
        if sym.kind == _FUNCTION:
            self.add(node, SCOPE, f"cannot assign to function '{node.name}'")
            return
        new_type = self.type_of(node.value)
        if new_type is not None:
            sym.type = new_type

    def if_stmt(self, node: N.Node) -> None:
        self.expr(node.condition)
        self.scoped_block(node.then)
        if node.else_ is not None:
            self.scoped_block(node.else_)

    def for_loop(self, node: N.Node) -> None:
        self.expr(node.iterable)
        iter_type = self.type_of(node.iterable)
        if iter_type is not None and iter_type != _ARRAY:
            self.add(node, TYPE, f"cannot iterate over non-array type '{iter_type}'")
        self.scoped_block(node.body, {node.variable: _Symbol(_VARIABLE)})

    def function_decl(self, node: N.Node) -> None:
        scope = self.scopes[-1]
        if node.name in scope:
            self.add(node, SCOPE, f"duplicate declaration '{node.name}'")
            return
        scope[node.name] = _Symbol(_FUNCTION, _FUNC_T, len(node.params))
        inner: dict[str, _Symbol] = {}
        for param in node.params:
            if param.name in inner:
                self.add(node, SCOPE, f"duplicate parameter '{param.name}'")
            else:
                inner[param.name] = _Symbol(_PARAMETER)
        self.scoped_block(node.body, inner)

    # -- config and database (C1-C4, D1-D2) --------------------------------------------------

    def config_decl(self, node: N.Node) -> None:
        if self.first_config is not None:
            self.add(node, SEMANTIC, "duplicate config declaration; only one config block allowed")
            return
        self.first_config = node
        db_type = node.properties.get("database_type")
        if db_type is not None and not (
            type(db_type) is N.StringLiteral and db_type.value in ("postgres", "mongodb")
        ):
            self.add(node, SEMANTIC, "invalid database_type: must be 'postgres' or 'mongodb'")
        if node.database_type == "mongodb":
            if not node.mongodb_uri:
                self.add(node, SEMANTIC, "mongodb_uri is required when database_type is 'mongodb'")
            if not node.mongodb_name:
                self.add(
                    node,
                    SEMANTIC,
                    "mongodb_database is required when database_type is 'mongodb'",
                )

    def database_block(self, node: N.Node) -> None:
        self.db_blocks.append(node)
        for decl in node.statements:
            if type(decl) is N.ModelDecl:
                self.model_decl(decl)
            else:
                self.collection_decl(decl)

    def database_consistency(self) -> None:
        config = self.first_config
        if config is None and not self.db_blocks:
            return
        config_type = config.database_type if config is not None else "postgres"
        for block in self.db_blocks:
            if block.db_type != config_type:
                self.add(
                    config if config is not None else block,
                    SEMANTIC,
                    f"database block type '{block.db_type}' does not match config "
                    f"database_type '{config_type}'; all database blocks must match the "
                    "configured database type",
                )
        if (
            config is not None
            and config.database_type == "mongodb"
            and self.db_blocks
            and not any(b.db_type == "mongodb" for b in self.db_blocks)
        ):
            self.add(
                config,
                SEMANTIC,
                "config specifies database_type 'mongodb' but no mongodb database block found",
            )

    # -- models (M1-M5) ----------------------------------------------------------------------

    def model_decl(self, model: N.Node) -> None:
        names: set[str] = set()
        for field in model.fields:
            if field.name in names:
                self.add(field, SEMANTIC, f"duplicate field '{field.name}' in model '{model.name}'")
            names.add(field.name)
            self.model_type(field.field_type, model.name)
            seen: set[str] = set()
            for mod in field.modifiers:
                if mod.name in seen:
                    self.add(
                        mod,
                        SEMANTIC,
                        f"duplicate modifier '{mod.name}' on field '{field.name}' "
                        f"in model '{model.name}'",
                    )
                seen.add(mod.name)
                if mod.value is not None:
                    self.expr(mod.value)
            if "required" in seen and "optional" in seen:
                self.add(
                    field.modifiers[0],
                    SEMANTIC,
                    f"field '{field.name}' cannot be both required and optional",
                )
        for index in model.indexes:
            for name in index.fields:
                if name not in names:
                    self.add(
                        index,
                        SEMANTIC,
                        f"index references unknown field '{name}' in model '{model.name}'",
                    )

    def model_type(self, type_ref: N.Node, model_name: str) -> None:
        if type_ref.name not in _MODEL_TYPES:
            self.add(
                type_ref,
                SEMANTIC,
                f"unknown type '{type_ref.name}' in model '{model_name}'; "
                f"valid types: {_MODEL_TYPES_MSG}",
            )
        if type_ref.name in ("ref", "enum"):
            return
        for param in type_ref.params:
            self.model_type(param, model_name)

    # -- collections (K1-K7) -----------------------------------------------------------------

    def collection_decl(self, coll: N.Node) -> None:
        names: set[str] = set()
        for field in coll.fields:
            if field.name in names:
                self.add(
                    field,
                    SEMANTIC,
                    f"duplicate field '{field.name}' in collection '{coll.name}'",
                )
            names.add(field.name)
            self.mongo_type(field.field_type, coll.name, field.name, 0)
            self.mongo_modifiers(field, coll.name)
        for index in coll.indexes or ():
            for name in index.fields:
                if name not in names:
                    self.add(
                        index,
                        SEMANTIC,
                        f"index references unknown field '{name}' in collection '{coll.name}'",
                    )

    def mongo_type(self, type_ref: N.Node, coll_name: str, field_name: str, depth: int) -> None:
        if depth > _MAX_EMBED_DEPTH:
            self.add(
                type_ref,
                SEMANTIC,
                f"embedded document nesting exceeds maximum depth of {_MAX_EMBED_DEPTH} "
                f"in collection '{coll_name}', field '{field_name}'",
            )
            return
        if type_ref.embedded_doc is not None:
            for field in type_ref.embedded_doc.fields:
                self.mongo_type(field.field_type, coll_name, field.name, depth + 1)
                self.mongo_modifiers(field, coll_name)
            return
        if type_ref.name not in _MONGO_TYPES:
            self.add(
                type_ref,
                SEMANTIC,
                f"unknown MongoDB type '{type_ref.name}' in collection '{coll_name}', "
                f"field '{field_name}'; valid types: {_MONGO_TYPES_MSG}",
            )

    def mongo_modifiers(self, field: N.Node, coll_name: str) -> None:
        seen: set[str] = set()
        for mod in field.modifiers:
            if mod.name in _MONGO_BAD_MODIFIERS:
                self.add(
                    mod,
                    SEMANTIC,
                    f"modifier '{mod.name}' is not valid for MongoDB collections; "
                    "foreign keys and referential constraints are not supported",
                )
            if mod.name in seen:
                self.add(
                    mod,
                    SEMANTIC,
                    f"duplicate modifier '{mod.name}' on field '{field.name}' "
                    f"in collection '{coll_name}'",
                )
            seen.add(mod.name)
            if mod.value is not None:
                self.expr(mod.value)
        if "required" in seen and "optional" in seen:
            self.add(
                field.modifiers[0],
                SEMANTIC,
                f"field '{field.name}' cannot be both required and optional",
            )

    # -- auth, roles, middleware (A1-A2, R1-R2, W1-W8) ---------------------------------------

    def _duplicate(self, registry: dict, node: N.Node, what: str) -> bool:
        first = registry.get(node.name)
        if first is not None:
            self.add(
                node,
                SEMANTIC,
                f"duplicate {what} '{node.name}'; first declared at {self.where(first)}",
            )
            return True
        registry[node.name] = node
        return False

    def auth_decl(self, node: N.Node) -> None:
        if self._duplicate(self.auths, node, "auth provider"):
            return
        if node.jwks is not None and not node.jwks.url:
            self.add(node.jwks, SEMANTIC, f"jwks_url is required in auth provider '{node.name}'")

    def role_decl(self, node: N.Node) -> None:
        if self._duplicate(self.roles, node, "role"):
            return
        for permission in node.permissions:
            if not permission:
                self.add(node, SEMANTIC, f"empty permission in role '{node.name}'")

    def middleware_decl(self, node: N.Node) -> None:
        if self._duplicate(self.middlewares, node, "middleware"):
            return
        name, mw_type, config = node.name, node.middleware_type, node.config
        if mw_type not in _MIDDLEWARE_TYPES:
            self.add(
                node,
                SEMANTIC,
                f"unknown middleware type '{mw_type}' in middleware '{name}'; "
                f"valid types: {', '.join(_MIDDLEWARE_TYPES)}",
            )
            return
        if mw_type == "authentication":
            provider = config.get("provider")
            if provider is None:
                self.add(
                    node,
                    SEMANTIC,
                    f"authentication middleware '{name}' requires 'provider' in config",
                )
            elif type(provider) is N.Identifier and provider.name not in self.auth_names:
                self.add(
                    node,
                    SEMANTIC,
                    f"authentication middleware '{name}' references unknown auth provider "
                    f"'{provider.name}'",
                )
        elif mw_type == "authorization":
            roles = config.get("roles")
            if type(roles) is N.ArrayLiteral:
                for element in roles.elements:
                    if type(element) is N.StringLiteral and element.value not in self.role_names:
                        self.add(
                            node,
                            SEMANTIC,
                            f"authorization middleware '{name}' references unknown role "
                            f"'{element.value}'",
                        )
        elif mw_type == "rate_limiting":
            if "requests" not in config:
                self.add(
                    node,
                    SEMANTIC,
                    f"rate_limiting middleware '{name}' requires 'requests' in config",
                )
            if "window" not in config:
                self.add(
                    node,
                    SEMANTIC,
                    f"rate_limiting middleware '{name}' requires 'window' in config",
                )
            strategy = config.get("strategy")
            if type(strategy) is N.Identifier and strategy.name not in _RATE_STRATEGIES:
                self.add(
                    node,
                    SEMANTIC,
                    f"unknown rate limiting strategy '{strategy.name}' in middleware '{name}'; "
                    f"valid strategies: {', '.join(_RATE_STRATEGIES)}",
                )

    # -- events (E1-E4) ----------------------------------------------------------------------

    def event_decl(self, node: N.Node) -> None:
        name = node.name
        if not _EVENT_NAME.fullmatch(name):
            self.add(
                node,
                SEMANTIC,
                f"event name '{name}' should follow resource.action or resource_action pattern",
            )
        if self._duplicate(self.events, node, "event"):
            return
        if node.schema is None:
            return
        seen: set[str] = set()
        for field in node.schema.fields:
            if field.name in seen:
                self.add(
                    field, SEMANTIC, f"duplicate field '{field.name}' in event '{name}' schema"
                )
            seen.add(field.name)
            if field.field_type.lower() not in _EVENT_FIELD_TYPES:
                self.add(
                    field,
                    SEMANTIC,
                    f"unknown field type '{field.field_type}' in event '{name}' schema; "
                    "valid types: string, int, decimal, bool, timestamp, array, object, uuid",
                )

    # -- integrations (I1-I10) ---------------------------------------------------------------

    def integration_decl(self, node: N.Node) -> None:
        if self._duplicate(self.integrations, node, "integration"):
            return
        name, base_url = node.name, node.base_url
        if not base_url:
            self.add(node, SEMANTIC, f"integration '{name}' requires a base_url")
        else:
            error, scheme = url_error(base_url)
            if error is not None:
                self.add(node, SEMANTIC, f"invalid base_url in integration '{name}': {error}")
            elif scheme not in ("http", "https"):
                self.add(
                    node,
                    SEMANTIC,
                    f"base_url in integration '{name}' should use https:// or http:// scheme",
                )
        auth = node.auth
        if auth is not None:
            if auth.auth_type == "bearer" and "token" not in auth.config:
                self.add(
                    auth, SEMANTIC, f"bearer auth in integration '{name}' requires 'token' config"
                )
            if auth.auth_type == "apikey":
                if "header" not in auth.config:
                    self.add(
                        auth,
                        SEMANTIC,
                        f"apikey auth in integration '{name}' requires 'header' config",
                    )
                if "value" not in auth.config:
                    self.add(
                        auth,
                        SEMANTIC,
                        f"apikey auth in integration '{name}' requires 'value' config",
                    )
        cb = node.circuit_breaker
        if cb is not None:
            if cb.failure_threshold <= 0:
                self.add(
                    cb,
                    SEMANTIC,
                    f"circuit_breaker threshold must be positive in integration '{name}'",
                )
            if cb.max_concurrent <= 0:
                self.add(
                    cb,
                    SEMANTIC,
                    f"circuit_breaker max_concurrent must be positive in integration '{name}'",
                )
            if not cb.timeout:
                self.add(
                    cb, SEMANTIC, f"circuit_breaker timeout is required in integration '{name}'"
                )

    # -- webhooks (B1-B7) --------------------------------------------------------------------

    def webhook_decl(self, node: N.Node) -> None:
        if self._duplicate(self.webhooks, node, "webhook"):
            return
        name, url = node.name, node.url
        if not url:
            self.add(node, SEMANTIC, f"webhook '{name}' requires a url")
        else:
            error, scheme = url_error(url)
            if error is not None:
                self.add(node, SEMANTIC, f"invalid url in webhook '{name}': {error}")
            elif scheme not in ("http", "https"):
                self.add(
                    node, SEMANTIC, f"url in webhook '{name}' should use https:// or http:// scheme"
                )
        if not node.event:
            self.add(node, SEMANTIC, f"webhook '{name}' requires an event name")
        retry = node.retry
        if retry is not None:
            if retry.max_attempts <= 0:
                self.add(node, SEMANTIC, f"retry max_attempts must be positive in webhook '{name}'")
            if retry.backoff_multiplier < 1.0:
                self.add(node, SEMANTIC, f"retry backoff must be >= 1.0 in webhook '{name}'")

    # -- endpoints (P1-P7) -------------------------------------------------------------------

    def endpoint_decl(self, node: N.Node) -> None:
        method, path = node.method, node.path
        key = f"{method} {path}"
        first = self.endpoints.get(key)
        if first is not None:
            self.add(
                node,
                SEMANTIC,
                f"duplicate endpoint {quote(key)}; first declared at {self.where(first)}",
            )
            return
        self.endpoints[key] = node
        qpath = quote(path)
        if not path.startswith("/"):
            self.add(node, SEMANTIC, f"endpoint path {qpath} must start with '/'")
        params: set[str] = set()
        for param in _PATH_PARAM.findall(path):
            if param in params:
                self.add(
                    node,
                    SEMANTIC,
                    f"duplicate path parameter :{param} in endpoint path {qpath}",
                )
            params.add(param)
        if "//" in path:
            self.add(node, SEMANTIC, f"endpoint path {qpath} contains invalid double slashes")
        used: set[str] = set()
        for ref in node.middlewares:
            if ref.name in used:
                self.add(
                    node,
                    SEMANTIC,
                    f"duplicate middleware {quote(ref.name)} in endpoint {method} {qpath}",
                )
            used.add(ref.name)
        for annotation in node.annotations:
            if annotation.name == "auth" and not annotation.value:
                self.add(
                    node,
                    SEMANTIC,
                    f"@auth annotation requires a value in endpoint {method} {qpath}",
                )
        response = node.handler.response
        if response is not None and not 100 <= response.status_code <= 599:
            self.add(
                node,
                SEMANTIC,
                f"invalid HTTP status code {response.status_code}; must be between 100 and 599",
            )

    # -- workflows (F1-F10) and jobs (J1-J4) -------------------------------------------------

    def workflow_decl(self, node: N.Node) -> None:
        if node.name in self.workflows:
            self.add(node, SEMANTIC, f"duplicate workflow declaration: {quote(node.name)}")
            return
        self.workflows.add(node.name)
        trigger = node.trigger
        if trigger is not None:
            value = trigger.value
            if trigger.trig_type == "event":
                if not value:
                    self.add(trigger, SEMANTIC, 'trigger type "event" requires a value')
                elif not _TRIGGER_EVENT.fullmatch(value):
                    self.add(
                        trigger,
                        SEMANTIC,
                        f"invalid event name: {quote(value)} (expected format: 'domain.event')",
                    )
            elif trigger.trig_type == "schedule":
                if not value:
                    self.add(trigger, SEMANTIC, 'trigger type "schedule" requires a value')
                else:
                    error = cron_error(value)
                    if error is not None:
                        self.add(
                            trigger, SEMANTIC, f"invalid cron expression {quote(value)}: {error}"
                        )
        if node.timeout and not is_duration(node.timeout):
            self.add(node, SEMANTIC, f"invalid timeout duration: {quote(node.timeout)}")
        if not node.steps:
            self.add(node, SEMANTIC, f"workflow {quote(node.name)} must have at least one step")
        names: set[str] = set()
        for step in node.steps or ():
            if step.parallel:
                for child in step.steps or ():
                    self.workflow_step(child, names)
            else:
                self.workflow_step(step, names)
        if node.retry is not None:
            self.retry_policy(node.retry)

    def workflow_step(self, step: N.Node, names: set[str]) -> None:
        if step.name in names:
            self.add(step, SEMANTIC, f"duplicate step name: {quote(step.name)}")
        names.add(step.name)
        if not step.activity:
            self.add(step, SEMANTIC, f"step {quote(step.name)} must specify an activity")

    def retry_policy(self, retry: N.Node) -> None:
        if retry.initial_interval and not is_duration(retry.initial_interval):
            self.add(retry, SEMANTIC, f"invalid interval duration: {quote(retry.initial_interval)}")

    def job_decl(self, node: N.Node) -> None:
        if node.name in self.jobs:
            self.add(node, SEMANTIC, f"duplicate job declaration: {quote(node.name)}")
            return
        self.jobs.add(node.name)
        if node.schedule:
            error = cron_error(node.schedule)
            if error is not None:
                self.add(node, SEMANTIC, f"invalid cron expression {quote(node.schedule)}: {error}")
        if not node.task:
            self.add(node, SEMANTIC, f"job {quote(node.name)} must specify a task")
        if node.retry is not None:
            self.retry_policy(node.retry)


def _ignore(node: N.Node) -> None:
    pass


def validate(program: N.Program) -> list[Diagnostic]:
    """Return every problem of ``program`` (``[]`` when valid), ordered as in spec §5.1."""
    return _Validator(program).run()
