"""AST node classes (spec §3.2).

Every node stores ``pos``: the 0-based character offset of its anchor token in the source. The
1-based ``line:column`` is derived from it with :meth:`Program.position` (``to_json`` and the
validator do this), so the parser never tracks lines itself.

Each class lists its JSON keys in order in ``FIELDS`` as ``(json_key, attribute)`` pairs; values
are nodes, lists, maps (``dict`` of name -> node), ``Param`` objects, ``str``, ``bool``, ``int``
(integer fields) or ``float`` (the two float fields of §3.1).
"""

from __future__ import annotations

from bisect import bisect_right


class Node:
    __slots__ = ("pos",)
    KIND = "Node"
    FIELDS: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        inner = ", ".join(f"{attr}={getattr(self, attr)!r}" for _, attr in self.FIELDS)
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.pos == other.pos and all(  # type: ignore[attr-defined]
            getattr(self, a) == getattr(other, a) for _, a in self.FIELDS
        )

    __hash__ = None  # type: ignore[assignment]


def _node(kind: str, fields: str, doc: str = "") -> type[Node]:
    """Create a node class with the JSON keys ``fields`` (space separated, in order)."""
    keys = fields.split()
    attrs = [_snake(k) for k in keys]

    # A generated __init__ with named parameters (much faster than a setattr loop).
    params = ", ".join(attrs)
    body = "".join(f"    self.{a} = {a}\n" for a in attrs)
    namespace: dict = {}
    exec(f"def __init__(self, {params}, *, pos=0):\n{body}    self.pos = pos\n", namespace)
    __init__ = namespace["__init__"]
    __init__.__qualname__ = f"{kind}.__init__"

    cls = type(
        kind,
        (Node,),
        {
            "__slots__": tuple(attrs),
            "__init__": __init__,
            "__doc__": doc
            or f"``{kind}`` node. JSON keys: {', '.join(keys)}; attributes: {', '.join(attrs)}.",
            "KIND": kind,
            "FIELDS": tuple(zip(keys, attrs, strict=True)),
            "__module__": __name__,
        },
    )
    return cls


_SNAKE_EXCEPTIONS = {
    "MongoDBURI": "mongodb_uri",
    "MongoDBName": "mongodb_name",
    "DBType": "db_type",
    "JWKS": "jwks",
    "URL": "url",
    "BaseURL": "base_url",
    "Else": "else_",
    "Async": "is_async",
}


def _snake(key: str) -> str:
    if key in _SNAKE_EXCEPTIONS:
        return _SNAKE_EXCEPTIONS[key]
    out = []
    for i, ch in enumerate(key):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class Param:
    """A function parameter (not a node: JSON ``{"Name", "Type": "", "Default": null}``)."""

    __slots__ = ("name", "pos")

    def __init__(self, name: str, pos: int = 0):
        self.name = name
        self.pos = pos

    def __repr__(self) -> str:
        return f"Param({self.name!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Param):
            return NotImplemented
        return (self.name, self.pos) == (other.name, other.pos)

    __hash__ = None  # type: ignore[assignment]


class Program(Node):
    """Root node: the statements of a program plus what is needed to compute positions."""

    __slots__ = ("_line_starts", "source_length", "statements")
    KIND = "Program"
    FIELDS = (("Statements", "statements"),)

    def __init__(self, statements: list[Node], line_starts: list[int] | None = None):
        self.statements = statements
        self.pos = 0
        self._line_starts = line_starts if line_starts is not None else [0]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based ``(line, column)`` of a 0-based character offset into the source."""
        starts = self._line_starts
        line = bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    def node_position(self, node: Node) -> tuple[int, int]:
        return self.position(node.pos)


# -- scripting -------------------------------------------------------------------------------
VarDecl = _node("VarDecl", "Name Value")
Assignment = _node("Assignment", "Name Value")
IfStmt = _node("IfStmt", "Condition Then Else")
ForLoop = _node("ForLoop", "Variable Iterable Body")
FunctionDecl = _node("FunctionDecl", "Name Params Body")
ExecBlock = _node("ExecBlock", "Command")
Block = _node("Block", "Statements")
StringLiteral = _node("StringLiteral", "Value")
NumberLiteral = _node("NumberLiteral", "Value")
BoolLiteral = _node("BoolLiteral", "Value")
Identifier = _node("Identifier", "Name")
FunctionCall = _node("FunctionCall", "Name Args")
ArrayLiteral = _node("ArrayLiteral", "Elements")

# -- config and database ---------------------------------------------------------------------
ConfigDecl = _node("ConfigDecl", "DatabaseType MongoDBURI MongoDBName Properties")
DatabaseBlock = _node("DatabaseBlock", "DBType Name Statements")
ModelDecl = _node("ModelDecl", "Name Description Fields Indexes")
FieldDecl = _node("FieldDecl", "Name FieldType Modifiers")
TypeRef = _node("TypeRef", "Name Params")
Modifier = _node("Modifier", "Name Value")
IndexDecl = _node("IndexDecl", "Fields Unique")
CollectionDecl = _node("CollectionDecl", "Name Description Fields Indexes")
MongoFieldDecl = _node("MongoFieldDecl", "Name FieldType Modifiers")
MongoTypeRef = _node("MongoTypeRef", "Name Params EmbeddedDoc")
EmbeddedDocDecl = _node("EmbeddedDocDecl", "Fields")
MongoIndexDecl = _node("MongoIndexDecl", "Fields Unique IndexKind")

# -- auth, role, middleware ------------------------------------------------------------------
AuthDecl = _node("AuthDecl", "Name Method JWKS Config")
JWKSConfig = _node("JWKSConfig", "URL Issuer Audience")
RoleDecl = _node("RoleDecl", "Name Permissions")
MiddlewareDecl = _node("MiddlewareDecl", "Name MiddlewareType Config")
MiddlewareRef = _node("MiddlewareRef", "Name")

# -- events, integrations, webhooks ----------------------------------------------------------
EventDecl = _node("EventDecl", "Name Schema Handlers")
EventSchema = _node("EventSchema", "Fields")
EventSchemaField = _node("EventSchemaField", "Name FieldType")
EventHandler = _node("EventHandler", "EventName ActionType Target Async")
IntegrationDecl = _node("IntegrationDecl", "Name IntgType BaseURL Auth Timeout CircuitBreaker")
IntegrationAuth = _node("IntegrationAuth", "AuthType Config")
CircuitBreakerConfig = _node("CircuitBreakerConfig", "FailureThreshold Timeout MaxConcurrent")
WebhookDecl = _node("WebhookDecl", "Name Event URL Method Headers Retry")
WebhookHeader = _node("WebhookHeader", "Key Value")
RetryPolicy = _node("RetryPolicy", "MaxAttempts InitialInterval BackoffMultiplier")

# -- endpoints -------------------------------------------------------------------------------
EndpointDecl = _node("EndpointDecl", "Method Path Handler Middlewares RequireRole Annotations")
Handler = _node("Handler", "Request Response Logic")
RequestType = _node("RequestType", "TypeName Source")
ResponseType = _node("ResponseType", "TypeName StatusCode")
HandlerLogic = _node("HandlerLogic", "Steps")
LogicStep = _node("LogicStep", "Action Target Args Condition Options")
Option = _node("Option", "Key Value")
Annotation = _node("Annotation", "Name Value")

# -- workflows and jobs ----------------------------------------------------------------------
WorkflowDecl = _node("WorkflowDecl", "Name Trigger Steps Retry Timeout")
Trigger = _node("Trigger", "TrigType Value")
WorkflowStep = _node("WorkflowStep", "Name Activity Input Condition Parallel Steps Args")
InputMapping = _node("InputMapping", "Key Value")
JobDecl = _node("JobDecl", "Name Schedule Task Queue Retry")


def _collect() -> dict[str, type[Node]]:
    found: dict[str, type[Node]] = {}
    for value in list(globals().values()):
        if isinstance(value, type) and issubclass(value, Node) and value is not Node:
            found[value.KIND] = value
    return found


NODE_CLASSES = _collect()
