"""Validator (spec §5): rules and orderings the corpus does not cover, and the §5.4 helpers."""

from __future__ import annotations

import pickle

import pytest

from apps.dsl.compiler import Diagnostic, parse, validate
from apps.dsl.compiler.checks import cron_error, is_duration, url_error

MONGO_CONFIG = 'config { database_type: "mongodb" mongodb_uri: "u" mongodb_database: "d" }\n'


def diags(source: str) -> list[str]:
    return [str(d) for d in validate(parse(source))]


# -- Diagnostic ----------------------------------------------------------------------------------


def test_diagnostic_str_format_and_fields():
    (diag,) = validate(parse("var a = 1\n  b = a"))
    assert diag == Diagnostic(2, 3, "ScopeError", "undefined variable 'b'")
    assert str(diag) == "2:3: ScopeError: undefined variable 'b'"


def test_diagnostic_is_picklable():
    (diag,) = validate(parse("x = 1"))
    assert pickle.loads(pickle.dumps(diag)) == diag


def test_valid_program_has_no_diagnostics():
    assert validate(parse("var a = [1]\nfor x in a { print(x) }")) == []


def test_validate_is_repeatable():
    program = parse("var a = 1\nvar a = 2\nb = a")
    assert validate(program) == validate(program)


# -- scripting -----------------------------------------------------------------------------------


def test_duplicate_function_body_is_not_checked():
    assert diags("function f() { }\nfunction f(a, a) { undefined_x = 1 }") == [
        "2:1: ScopeError: duplicate declaration 'f'"
    ]


def test_duplicate_parameter_reported_once_per_repetition():
    assert diags("function f(a, b, a, a) { }") == [
        "1:1: ScopeError: duplicate parameter 'a'",
        "1:1: ScopeError: duplicate parameter 'a'",
    ]


def test_assignment_to_builtin_is_assignment_to_function():
    assert diags("print = 1") == ["1:1: ScopeError: cannot assign to function 'print'"]


def test_variable_holding_a_function_is_not_callable():
    assert diags("function f() { }\nvar g = f\ng()") == [
        "3:1: FunctionError: 'g' is not a function"
    ]


def test_calling_a_parameter_is_not_a_function():
    assert diags("function f(cb) { cb() }") == ["1:18: FunctionError: 'cb' is not a function"]


def test_iterating_a_string_variable():
    assert diags('var s = "abc"\nfor c in s { }') == [
        "2:1: TypeError: cannot iterate over non-array type 'string'"
    ]


def test_builtins_and_call_results_have_unknown_type():
    assert diags("for c in print { }\nfor d in len([1]) { }") == []


def test_names_must_be_declared_before_use():
    assert diags("f()\nfunction f() { }") == ["1:1: FunctionError: undefined function 'f'"]


def test_else_branch_opens_its_own_scope():
    source = "if true { var a = 1 } else { var a = 2\nprint(a) }\nprint(a)"
    assert diags(source) == ["3:7: ScopeError: undefined variable 'a'"]


def test_inner_scope_may_shadow_outer_names():
    assert diags("var a = 1\nfunction f(a) { var b = a }\nif a { var a = [] for x in a { } }") == []


def test_modifier_values_are_checked_in_collections():
    source = MONGO_CONFIG + "database mongodb { collection C { a: string, default(nope) } }"
    assert diags(source) == ["2:54: ScopeError: undefined variable 'nope'"]


def test_declaration_contents_other_than_listed_are_not_scope_checked():
    source = (
        "config { a: undefined_a }\n"
        'integration i { type rest base_url "https://x" auth bearer { token: undefined_t } }\n'
        'on "e" do emit "undefined"\n'
        "workflow w { s: Agent(undefined_s) }"
    )
    assert diags(source) == []


# -- config and database -------------------------------------------------------------------------


def test_last_database_type_property_is_the_one_checked():
    assert diags('config { database_type: "mysql" database_type: "postgres" }') == []
    assert diags('config { database_type: "postgres" database_type: pg }') == [
        "1:1: SemanticError: invalid database_type: must be 'postgres' or 'mongodb'"
    ]


def test_second_config_skips_its_other_rules():
    assert diags('config { }\nconfig { database_type: "mysql" }') == [
        "2:1: SemanticError: duplicate config declaration; only one config block allowed"
    ]


def test_database_mismatch_is_reported_at_the_config_after_the_walk():
    source = "database mongodb { }\nconfig { }\nx = 1"
    assert diags(source) == [
        "3:1: ScopeError: undefined variable 'x'",
        "2:1: SemanticError: database block type 'mongodb' does not match config "
        "database_type 'postgres'; all database blocks must match the configured database type",
    ]


def test_mongodb_config_without_mongodb_block():
    source = MONGO_CONFIG + "database postgres { }"
    assert diags(source) == [
        "1:1: SemanticError: database block type 'postgres' does not match config "
        "database_type 'mongodb'; all database blocks must match the configured database type",
        "1:1: SemanticError: config specifies database_type 'mongodb' but no mongodb "
        "database block found",
    ]


def test_database_blocks_nested_in_bodies_are_checked():
    assert diags("if true { database mongodb { } }") == [
        "1:11: SemanticError: database block type 'mongodb' does not match config "
        "database_type 'postgres'; all database blocks must match the configured database type"
    ]


# -- models and collections ----------------------------------------------------------------------


def test_model_type_parameters_are_checked_except_under_ref_and_enum():
    source = "database postgres { model M { a: list(foo) b: ref(list(bar)) c: enum(x, y) } }"
    assert diags(source) == [
        "1:39: SemanticError: unknown type 'foo' in model 'M'; valid types: uuid, string, "
        "text, integer, decimal, boolean, timestamp, date, time, json, list, ref, enum"
    ]


def test_model_rule_order_per_field_then_indexes():
    source = (
        "database postgres { model M {\n"
        "  a: varchar, required, optional, required\n"
        "  a: int\n"
        "  index: [a, b, c]\n"
        "} }"
    )
    assert diags(source) == [
        "2:6: SemanticError: unknown type 'varchar' in model 'M'; valid types: uuid, string, "
        "text, integer, decimal, boolean, timestamp, date, time, json, list, ref, enum",
        "2:35: SemanticError: duplicate modifier 'required' on field 'a' in model 'M'",
        "2:15: SemanticError: field 'a' cannot be both required and optional",
        "3:3: SemanticError: duplicate field 'a' in model 'M'",
        "4:3: SemanticError: index references unknown field 'b' in model 'M'",
        "4:3: SemanticError: index references unknown field 'c' in model 'M'",
    ]


def _embedded(depth: int) -> str:
    inner = "leaf: string"
    for i in range(depth):
        inner = f"e{i}: embedded {{ {inner} }}"
    return MONGO_CONFIG + f"database mongodb {{ collection C {{ {inner} }} }}"


def test_embedded_nesting_deeper_than_10_is_reported_once():
    (message,) = diags(_embedded(11))
    assert message.endswith(
        "SemanticError: embedded document nesting exceeds maximum depth of 10 "
        "in collection 'C', field 'leaf'"
    )


def test_embedded_nesting_of_10_is_fine():
    assert diags(_embedded(10)) == []


def test_embedded_field_type_then_modifiers_in_order():
    source = MONGO_CONFIG + (
        "database mongodb { collection C {\n"
        "  a: embedded { b: uuid, cascade c: string, unique, unique }, required, optional\n"
        "} }"
    )
    assert diags(source) == [
        "3:20: SemanticError: unknown MongoDB type 'uuid' in collection 'C', field 'b'; valid "
        "types: objectid, string, int, int32, int64, double, decimal, bool, date, timestamp, "
        "binary, array, object",
        "3:26: SemanticError: modifier 'cascade' is not valid for MongoDB collections; foreign "
        "keys and referential constraints are not supported",
        "3:53: SemanticError: duplicate modifier 'unique' on field 'c' in collection 'C'",
        "3:63: SemanticError: field 'a' cannot be both required and optional",
    ]


def test_embedded_without_braces_is_the_type_name_embedded():
    source = MONGO_CONFIG + "database mongodb { collection C { a: embedded } }"
    assert diags(source) == [
        "2:38: SemanticError: unknown MongoDB type 'embedded' in collection 'C', field 'a'; "
        "valid types: objectid, string, int, int32, int64, double, decimal, bool, date, "
        "timestamp, binary, array, object"
    ]


# -- auth, roles, middleware ---------------------------------------------------------------------


def test_jwks_url_empty_is_reported_at_jwks_config():
    assert diags('auth a {\n  method jwt jwks_url "" }') == [
        "2:14: SemanticError: jwks_url is required in auth provider 'a'"
    ]


def test_duplicate_auth_skips_its_other_rules():
    assert diags('auth a { method basic }\n\nauth a { method jwt jwks_url "" }') == [
        "3:1: SemanticError: duplicate auth provider 'a'; first declared at 1:1"
    ]


def test_role_empty_permission_once_per_empty_string():
    assert diags('role r { permissions ["", "a", ""] }') == [
        "1:1: SemanticError: empty permission in role 'r'",
        "1:1: SemanticError: empty permission in role 'r'",
    ]


def test_auth_and_role_references_resolve_regardless_of_order():
    source = (
        "middleware m1 { type authentication config { provider: later } }\n"
        'middleware m2 { type authorization config { roles: ["admin", "ghost", other] } }\n'
        "if true { auth later { method basic } }\n"
        "role admin { permissions [] }"
    )
    assert diags(source) == [
        "2:1: SemanticError: authorization middleware 'm2' references unknown role 'ghost'"
    ]


def test_rate_limiting_requires_requests_and_window():
    assert diags("middleware m { type rate_limiting config { strategy: token_bucket } }") == [
        "1:1: SemanticError: rate_limiting middleware 'm' requires 'requests' in config",
        "1:1: SemanticError: rate_limiting middleware 'm' requires 'window' in config",
    ]


def test_rate_limiting_strategy_string_is_not_checked():
    source = 'middleware m { type rate_limiting config { requests: 1 window: 2 strategy: "x" } }'
    assert diags(source) == []


# -- events, integrations, webhooks --------------------------------------------------------------


def test_event_schema_duplicate_field_and_type_in_order():
    assert diags("event e { schema { a string a Text b Float } }") == [
        "1:29: SemanticError: duplicate field 'a' in event 'e' schema",
        "1:29: SemanticError: unknown field type 'Text' in event 'e' schema; valid types: "
        "string, int, decimal, bool, timestamp, array, object, uuid",
    ]


def test_duplicate_event_still_gets_the_name_rule_but_not_schema_rules():
    assert diags("event _e { }\nevent _e { schema { a foo } }") == [
        "1:1: SemanticError: event name '_e' should follow resource.action or resource_action "
        "pattern",
        "2:1: SemanticError: event name '_e' should follow resource.action or resource_action "
        "pattern",
        "2:1: SemanticError: duplicate event '_e'; first declared at 1:1",
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://api.example.com/v1", None),
        ("http://localhost:8080/x?y=1#frag", None),
        ("api.example.com", "base_url in integration 'i' should use https:// or http:// scheme"),
        ("localhost:8080", "base_url in integration 'i' should use https:// or http:// scheme"),
        ("://x", "invalid base_url in integration 'i': parse \"://x\": missing protocol scheme"),
        (
            "http://x:80a",
            'invalid base_url in integration \'i\': parse "http://x:80a": invalid port ":80a" '
            "after host",
        ),
    ],
)
def test_integration_base_url_rules(url, message):
    got = diags(f'integration i {{ type rest base_url "{url}" }}')
    assert got == ([] if message is None else [f"1:1: SemanticError: {message}"])


def test_integration_apikey_and_circuit_breaker_positions():
    source = (
        'integration i { type rest base_url "https://x"\n'
        '  auth apikey { header: "X" }\n'
        '  circuit_breaker { threshold 1 timeout "" max_concurrent 1 } }'
    )
    assert diags(source) == [
        "2:3: SemanticError: apikey auth in integration 'i' requires 'value' config",
        "3:3: SemanticError: circuit_breaker timeout is required in integration 'i'",
    ]


def test_webhook_rules_in_order():
    source = 'webhook w { event "" url "" method PUT retry 1 initial_interval "x" backoff 1 }'
    assert diags(source) == [
        "1:1: SemanticError: webhook 'w' requires a url",
        "1:1: SemanticError: webhook 'w' requires an event name",
    ]


def test_webhook_invalid_url():
    assert diags('webhook w { event "e" url "http://a b" method POST }') == [
        "1:1: SemanticError: invalid url in webhook 'w': parse \"http://a b\": invalid "
        'character " " in host name'
    ]


# -- endpoints -----------------------------------------------------------------------------------


def test_duplicate_endpoint_anywhere_skips_other_rules():
    source = 'endpoint GET "/u" { }\nif true {\n  endpoint GET "/u" { response R status 1 }\n}'
    assert diags(source) == [
        '3:3: SemanticError: duplicate endpoint "GET /u"; first declared at 1:1'
    ]


def test_same_path_different_method_is_fine():
    assert diags('endpoint GET "/u" { }\nendpoint POST "/u" { }') == []


def test_endpoint_quoting_of_paths():
    assert diags('endpoint GET "u\\"x" { }') == [
        '1:1: SemanticError: endpoint path "u\\\\\\"x" must start with \'/\''
    ]


def test_auth_annotation_with_empty_value():
    assert diags('@auth("")\n@Auth\nendpoint GET "/u" { }') == [
        '3:1: SemanticError: @auth annotation requires a value in endpoint GET "/u"'
    ]


# -- workflows and jobs --------------------------------------------------------------------------


def test_workflow_trigger_rules():
    source = (
        'workflow a { trigger event "a..b" s: A() }\n'
        'workflow b { trigger schedule "" s: A() }\n'
        'workflow c { trigger schedule "@hourly" s: A() }'
    )
    assert diags(source) == [
        "1:14: SemanticError: invalid event name: \"a..b\" (expected format: 'domain.event')",
        '2:14: SemanticError: trigger type "schedule" requires a value',
        '3:14: SemanticError: invalid cron expression "@hourly": parser does not accept '
        "descriptors: @hourly",
    ]


def test_step_names_are_shared_across_parallel_children():
    source = (
        "workflow w { trigger manual steps {\n"
        '  a { activity "x" }\n'
        '  parallel { a { activity "y" } b { } }\n'
        '} retry { initial_interval "1.5m" } }'
    )
    assert diags(source) == [
        '3:14: SemanticError: duplicate step name: "a"',
        '3:33: SemanticError: step "b" must specify an activity',
    ]


def test_parallel_block_counts_as_a_step():
    assert diags("workflow w { trigger manual steps { parallel { } } }") == []


def test_job_retry_interval_reported_at_retry_policy():
    assert diags('job j { task "t" retry { initial_interval "5d" } }') == [
        '1:18: SemanticError: invalid interval duration: "5d"'
    ]


def test_workflows_and_jobs_have_separate_namespaces():
    assert diags('workflow x { s: A() }\njob x { task "t" }') == []


# -- helper checks (§5.4) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "+0",
        "-0",
        "1h30m",
        "1.5h",
        "300ms",
        ".5s",
        "5.s",
        "1µs",
        "1μs",
        "2h45m30.5s",
        "-1.5h",
        "9223372036854775807ns",
        "-9223372036854775808ns",
    ],
)
def test_valid_durations(value):
    assert is_duration(value)


@pytest.mark.parametrize(
    "value",
    ["", "2x", "5d", "10", "1h 30m", ".s", "h", "1.5", "00", "9223372036854775808ns", "+-1s"],
)
def test_invalid_durations(value):
    assert not is_duration(value)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("0 9 * * 1", None),
        ("*/15 0-23/2 1,15 jan-DEC sun-sat", None),
        ("CRON_TZ=Europe/Paris  5 4 * * *", None),
        ("@daily", "parser does not accept descriptors: @daily"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("1/2/3 * * * *", "too many slashes: 1/2/3"),
        ("*/-2 * * * *", "negative number (-2) not allowed: -2"),
        ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
        (
            "99999999999999999999 * * * *",
            "failed to parse int from 99999999999999999999: strconv.Atoi: parsing "
            '"99999999999999999999": value out of range',
        ),
        ("* * * * mon,,fri", None),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ],
)
def test_cron_check(value, error):
    assert cron_error(value) == error


@pytest.mark.parametrize(
    ("url", "error", "scheme"),
    [
        ("https://user:pa%20ss@host.example.com:8443/p/a%2Fth?q=1#f", None, "https"),
        ("HTTP://X", None, "http"),
        ("mailto:%zz", None, "mailto"),
        ("*", None, ""),
        ("http://[::1]:80/", None, "http"),
        ("http://[fe80::1%25en0]/", None, "http"),
        ("http://a\x7f", 'parse "http://a\\x7f": net/url: invalid control character in URL', ""),
        ("1http:x", 'parse "1http:x": first path segment in URL cannot contain colon', ""),
        ("http://[::1/", "parse \"http://[::1/\": missing ']' in host", ""),
        ("http://[::1]x/", 'parse "http://[::1]x/": invalid port "x" after host', ""),
        ("http://a%2.com", 'parse "http://a%2.com": invalid URL escape "%2."', ""),
        ("http://é%C3%A9.com", None, "http"),
        ("http://a{b}", 'parse "http://a{b}": invalid character "{" in host name', ""),
        ("http://u{s}@h", 'parse "http://u{s}@h": net/url: invalid userinfo', ""),
        ("http://u%zz@h", 'parse "http://u%zz@h": invalid URL escape "%zz"', ""),
        ("http://h/%", 'parse "http://h/%": invalid URL escape "%"', ""),
        ("http://h/x#%g0", 'parse "http://h/x#%g0": invalid URL escape "%g0"', ""),
        ("http://h/%\u00e9", 'parse "http://h/%é": invalid URL escape "%é"', ""),
        ("http://h/%a\u00e9", 'parse "http://h/%aé": invalid URL escape "%a\\xc3"', ""),
        ("///x", None, ""),
    ],
)
def test_url_check(url, error, scheme):
    assert url_error(url) == (error, scheme)
