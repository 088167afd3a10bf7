"""``to_json`` (spec §3): key order, Kind/Pos, null/[] conventions, numbers, maps."""

from __future__ import annotations

import json

from apps.dsl.compiler import parse, to_json, to_json_text


def tree(source: str) -> dict:
    return to_json(parse(source))


def first(source: str) -> dict:
    return tree(source)["Statements"][0]


def walk(value):
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


FULL_PROGRAM = """\
config { name: "x" b: [1, "s", true, f(y)] a: 2 }
database postgres { model M { description: "d" id: uuid, primary a: list(string) index: [id] } }
database mongodb { collection C { a: embedded { b: string } indexes { index: [a] unique text } } }
auth p { method jwt jwks_url "https://j" }
role r { permissions ["a:b"] }
middleware m { type custom config { k: 1 } }
event e { schema { a string } }
on "e" do webhook "w" async
integration i { type rest base_url "https://x" auth apikey { header: "h" value: "v" }
  timeout "1s" circuit_breaker { threshold 1 timeout "2s" max_concurrent 3 } }
webhook w { event "e" url "https://x" method POST headers { "a": "b" }
  retry 2 initial_interval "1s" backoff 1.5 }
@auth("p")
endpoint PUT "/x/:id" { middleware m require_role "admin" request R from body
  response S status 200 do { t = find(a, "b", 3) where "c" with { k: v } } }
workflow wf { trigger schedule "0 0 * * *" timeout "1h"
  steps { s { activity "a" input { k: "v" } if "c" } parallel { t { activity "b" } } }
  retry { max_attempts 2 initial_interval "1s" backoff_multiplier 2 } }
workflow sw { s: F(1) }
job j { schedule "0 0 * * *" task "t" queue "q" retry { max_attempts 1 } }
var v = 1
v = 2
if v { exec { ls } } else { print(v) }
for x in [v] { }
function f(a) { }
"""


def test_every_node_has_kind_first_and_pos_last():
    nodes = [d for d in walk(tree(FULL_PROGRAM)) if "Kind" in d]
    assert len(nodes) > 60
    for node in nodes:
        keys = list(node)
        assert keys[0] == "Kind"
        assert keys[-1] == "Pos"
        assert set(node["Pos"]) == {"Line", "Column"}
        assert node["Pos"]["Line"] >= 1 and node["Pos"]["Column"] >= 1


def test_all_node_kinds_of_the_catalogue_appear_with_their_key_order():
    expected = {
        "Program": ["Statements"],
        "ConfigDecl": ["DatabaseType", "MongoDBURI", "MongoDBName", "Properties"],
        "DatabaseBlock": ["DBType", "Name", "Statements"],
        "ModelDecl": ["Name", "Description", "Fields", "Indexes"],
        "FieldDecl": ["Name", "FieldType", "Modifiers"],
        "TypeRef": ["Name", "Params"],
        "Modifier": ["Name", "Value"],
        "IndexDecl": ["Fields", "Unique"],
        "CollectionDecl": ["Name", "Description", "Fields", "Indexes"],
        "MongoFieldDecl": ["Name", "FieldType", "Modifiers"],
        "MongoTypeRef": ["Name", "Params", "EmbeddedDoc"],
        "EmbeddedDocDecl": ["Fields"],
        "MongoIndexDecl": ["Fields", "Unique", "IndexKind"],
        "AuthDecl": ["Name", "Method", "JWKS", "Config"],
        "JWKSConfig": ["URL", "Issuer", "Audience"],
        "RoleDecl": ["Name", "Permissions"],
        "MiddlewareDecl": ["Name", "MiddlewareType", "Config"],
        "MiddlewareRef": ["Name"],
        "EventDecl": ["Name", "Schema", "Handlers"],
        "EventSchema": ["Fields"],
        "EventSchemaField": ["Name", "FieldType"],
        "EventHandler": ["EventName", "ActionType", "Target", "Async"],
        "IntegrationDecl": ["Name", "IntgType", "BaseURL", "Auth", "Timeout", "CircuitBreaker"],
        "IntegrationAuth": ["AuthType", "Config"],
        "CircuitBreakerConfig": ["FailureThreshold", "Timeout", "MaxConcurrent"],
        "WebhookDecl": ["Name", "Event", "URL", "Method", "Headers", "Retry"],
        "WebhookHeader": ["Key", "Value"],
        "RetryPolicy": ["MaxAttempts", "InitialInterval", "BackoffMultiplier"],
        "EndpointDecl": [
            "Method",
            "Path",
            "Handler",
            "Middlewares",
            "RequireRole",
            "Annotations",
        ],
        "Handler": ["Request", "Response", "Logic"],
        "RequestType": ["TypeName", "Source"],
        "ResponseType": ["TypeName", "StatusCode"],
        "HandlerLogic": ["Steps"],
        "LogicStep": ["Action", "Target", "Args", "Condition", "Options"],
        "Option": ["Key", "Value"],
        "Annotation": ["Name", "Value"],
        "WorkflowDecl": ["Name", "Trigger", "Steps", "Retry", "Timeout"],
        "Trigger": ["TrigType", "Value"],
        "WorkflowStep": ["Name", "Activity", "Input", "Condition", "Parallel", "Steps", "Args"],
        "InputMapping": ["Key", "Value"],
        "JobDecl": ["Name", "Schedule", "Task", "Queue", "Retry"],
        "VarDecl": ["Name", "Value"],
        "Assignment": ["Name", "Value"],
        "IfStmt": ["Condition", "Then", "Else"],
        "ForLoop": ["Variable", "Iterable", "Body"],
        "FunctionDecl": ["Name", "Params", "Body"],
        "ExecBlock": ["Command"],
        "Block": ["Statements"],
        "StringLiteral": ["Value"],
        "NumberLiteral": ["Value"],
        "BoolLiteral": ["Value"],
        "Identifier": ["Name"],
        "FunctionCall": ["Name", "Args"],
        "ArrayLiteral": ["Elements"],
    }
    seen = {}
    for node in walk(tree(FULL_PROGRAM)):
        if "Kind" in node:
            seen.setdefault(node["Kind"], list(node)[1:-1])
    assert seen == expected


def test_program_pos_is_always_line_1_column_1():
    assert tree("\n\n   var x = 1")["Pos"] == {"Line": 1, "Column": 1}


def test_output_is_json_serialisable_and_deterministic():
    program = parse(FULL_PROGRAM)
    first_text = json.dumps(to_json(program))
    assert json.dumps(to_json(program)) == first_text
    assert json.loads(first_text) == to_json(program)


def test_to_json_does_not_share_mutable_state_between_calls():
    program = parse("var a = [1]")
    out = to_json(program)
    out["Statements"].clear()
    assert to_json(program)["Statements"] != []


# -- numbers -------------------------------------------------------------------------------------


def test_integral_numbers_are_ints_and_others_floats():
    values = [
        s["Value"]["Value"]
        for s in tree(
            "var a = 1.0 var b = 2.5 var c = 100000000000000000000 var d = 1000000000000000000000"
        )["Statements"]
    ]
    assert values == [1, 2.5, 10**20, 1e21]
    assert [type(v) for v in values] == [int, float, int, float]


def test_integer_fields_are_ints():
    response = first('endpoint GET "/a" { response A status 201 }')["Handler"]["Response"]
    assert response["StatusCode"] == 201 and type(response["StatusCode"]) is int


def test_backoff_multiplier_follows_the_float_rule():
    retry = first('job j { task "t" retry { backoff_multiplier 1.5 } }')["Retry"]
    assert retry == {
        "Kind": "RetryPolicy",
        "MaxAttempts": 0,
        "InitialInterval": "",
        "BackoffMultiplier": 1.5,
        "Pos": {"Line": 1, "Column": 18},
    }
    whole = first('job j { task "t" retry { backoff_multiplier 2. } }')["Retry"]
    assert type(whole["BackoffMultiplier"]) is int


# -- maps ----------------------------------------------------------------------------------------


def test_maps_are_sorted_and_last_value_wins():
    props = first("config { b: 1 a: 2 b: 3 }")["Properties"]
    assert list(props) == ["a", "b"]
    assert props["b"]["Value"] == 3
    assert props["b"]["Pos"] == {"Line": 1, "Column": 23}


def test_config_fields_follow_the_conversion_rules():
    config = first('config { database_type: "mongodb" database_type: "mysql" mongodb_uri: u }')
    assert (config["DatabaseType"], config["MongoDBURI"], config["MongoDBName"]) == (
        "mongodb",
        "",
        "",
    )


# -- null / [] conventions -----------------------------------------------------------------------


def test_else_is_null_when_absent_or_empty():
    assert first("if a { }")["Else"] is None
    assert first("if a { } else { }")["Else"] is None
    assert first("if a { } else { b() }")["Else"]["Kind"] == "Block"


def test_collection_indexes_null_without_block_and_empty_with_empty_block():
    assert first("database mongodb { collection C { } }")["Statements"][0]["Indexes"] is None
    empty = first("database mongodb { collection C { indexes { } } }")["Statements"][0]
    assert empty["Indexes"] == []


def test_mongo_type_params_null_without_parentheses():
    field = first("database mongodb { collection C { a: array b: array(x) } }")["Statements"][0]
    assert [f["FieldType"]["Params"] for f in field["Fields"]] == [None, ["x"]]


def test_webhook_headers_null_without_block():
    assert first('webhook w { event "e" url "u" method POST }')["Headers"] is None
    assert first('webhook w { event "e" url "u" method POST headers { } }')["Headers"] == []


def test_auth_jwks_only_for_jwt_with_url():
    assert first('auth a { method apikey jwks_url "u" }')["JWKS"] is None
    assert first("auth a { method jwt }")["JWKS"] is None
    jwks = first('auth a { method jwt jwks_url "u" audience "x" }')["JWKS"]
    assert (jwks["URL"], jwks["Issuer"], jwks["Audience"]) == ("u", "", "x")
    assert jwks["Pos"] == {"Line": 1, "Column": 21}


def test_workflow_empty_collections_are_null():
    wf = first("workflow w { trigger manual steps { s { input { } } parallel { } } }")
    step, parallel = wf["Steps"]
    assert step["Input"] is None
    assert (parallel["Name"], parallel["Parallel"], parallel["Steps"]) == ("", True, None)
    assert first("workflow w { trigger manual steps { } }")["Steps"] is None


def test_endpoint_handler_is_always_an_object():
    endpoint = first('endpoint GET "/a" {}')
    assert endpoint["Handler"] == {
        "Kind": "Handler",
        "Request": None,
        "Response": None,
        "Logic": None,
        "Pos": {"Line": 1, "Column": 19},
    }
    assert (endpoint["Middlewares"], endpoint["RequireRole"], endpoint["Annotations"]) == (
        [],
        "",
        [],
    )


def test_logic_step_option_value_is_a_string_literal_at_the_value_token():
    step = first('endpoint GET "/a" { do { x = f(1, "s", w) with { ttl: 300 } } }')["Handler"]
    step = step["Logic"]["Steps"][0]
    assert step["Pos"] == {"Line": 1, "Column": 26}
    assert step["Args"] == ["1", "s", "w"]
    assert step["Options"] == [
        {
            "Kind": "Option",
            "Key": "ttl",
            "Value": {"Kind": "StringLiteral", "Value": "300", "Pos": {"Line": 1, "Column": 55}},
            "Pos": {"Line": 1, "Column": 43},
        }
    ]


def test_function_params_are_plain_objects():
    assert first("function f(a, b) { }")["Params"] == [
        {"Name": "a", "Type": "", "Default": None},
        {"Name": "b", "Type": "", "Default": None},
    ]


def test_short_step_carries_call_arguments():
    step = first('workflow w { s: Agent("m", [1]) }')["Steps"][0]
    assert (step["Activity"], [a["Kind"] for a in step["Args"]]) == (
        "Agent",
        ["StringLiteral", "ArrayLiteral"],
    )
    assert step["Pos"] == {"Line": 1, "Column": 14}


def test_anchor_positions_of_nested_declarations():
    source = 'endpoint GET "/a" {\n  middleware auth_mw\n  request R from query\n}'
    endpoint = first(source)
    assert endpoint["Middlewares"][0]["Pos"] == {"Line": 2, "Column": 3}
    assert endpoint["Handler"]["Request"]["Pos"] == {"Line": 3, "Column": 3}


# -- text serialisation --------------------------------------------------------------------------


def test_json_text_writes_small_floats_in_plain_decimal_and_others_in_exponent_form():
    text = to_json_text(parse("var a = 0.000001 var b = 0.0000001 var c = 0.5"))
    values = [s["Value"]["Value"] for s in json.loads(text)["Statements"]]
    assert values == [0.000001, 1e-07, 0.5]
    assert '"Value": 0.000001,' in text
    assert '"Value": 1e-07,' in text


def test_json_text_formats_large_floats_with_signed_exponent():
    assert '"Value": 1e+21,' in to_json_text(parse("var a = 1000000000000000000000"))


def test_json_text_matches_json_dumps_apart_from_floats():
    program = parse(FULL_PROGRAM)
    assert to_json_text(program) == json.dumps(to_json(program), ensure_ascii=False)
    assert to_json_text(program, indent=2) == json.dumps(
        to_json(program), ensure_ascii=False, indent=2
    )
