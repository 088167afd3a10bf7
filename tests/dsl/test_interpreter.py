"""Interpreter behaviour (spec §7) plus the control plane's limits, variables and exec rules."""

import json
from pathlib import Path

import pytest

from apps.dsl.compiler import compile_source, parse
from apps.dsl.interpreter import collect_declarations, declared_variables, run

CORPUS_FILES = Path(__file__).resolve().parents[3] / "shared" / "dsl-corpus" / "files"


def program(source: str) -> dict:
    result = compile_source(source)
    assert result.errors == [], result.errors
    return result.ast_json


def run_source(source: str, **kwargs):
    return run(program(source), **kwargs)


def lines(source: str, **kwargs) -> list[str]:
    result = run_source(source, **kwargs)
    assert result.ok, result.errors
    return result.output_lines


# -- print and display forms ---------------------------------------------------------------------


def test_print_outputs_a_string_as_it_is():
    assert lines('print("hello world")') == ["hello world"]


def test_integral_numbers_display_without_trailing_zero():
    assert lines("print(3) print(1.) print(007) print(2.50)") == ["3", "1", "7", "2.5"]


def test_fractional_numbers_display_in_plain_decimal():
    assert lines("print(0.5) print(3.14)") == ["0.5", "3.14"]


def test_bools_display_as_true_and_false():
    assert lines("print(true) print(false)") == ["true", "false"]


def test_arrays_display_with_quoted_strings_and_nested_arrays():
    assert lines('print([1, "a", true, [false, "b"], []])') == ['[1, "a", true, [false, "b"], []]']


def test_print_yields_nil_which_displays_as_null():
    assert lines('var x = print("a") print(x)') == ["a", "null"]


def test_user_function_call_yields_nil():
    assert lines("function f() { } print(f())") == ["null"]


def test_output_joins_printed_lines_with_newlines():
    result = run_source('print("a") print("b")')
    assert result.output == "a\nb"


# -- strings ----------------------------------------------------------------------------------


def test_simple_escapes_are_decoded_when_evaluated():
    assert lines(r'print("a\tb\nc\r\"q\"\\")') == ['a\tb\nc\r"q"\\']


def test_unicode_escape_is_decoded():
    assert lines(r'print("caf\u00e9")') == ["café"]


def test_unknown_escape_stays_as_written():
    assert lines(r'print("a\qb\x")') == [r"a\qb\x"]


def test_short_unicode_escape_stays_as_written():
    assert lines(r'print("\u12g4")') == [r"\u12g4"]


def test_ast_keeps_the_raw_string_while_output_is_decoded():
    tree = program('var greeting = "hello\\tworld"\nprint(greeting)')
    assert tree["Statements"][0]["Value"]["Value"] == "hello\\tworld"
    assert run(tree).output_lines == ["hello\tworld"]


def test_len_counts_characters_of_the_decoded_string():
    assert lines(r'print(len("a\nb\u00e9"))') == ["4"]


def test_len_counts_array_elements():
    assert lines("print(len([1, [2, 3], 4]))") == ["3"]


def test_len_of_a_number_is_a_runtime_error_at_the_call():
    result = run_source("var n = len(5)")
    assert result.errors == ["1:9: RuntimeError: len() expects a string or an array"]
    assert result.exit_code == 1


# -- scopes, truthiness, loops ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["false", "0", '""', "[]", "print(1)"])
def test_falsy_values_take_the_else_branch(value):
    output = lines(f'if {value} {{ print("then") }} else {{ print("else") }}')
    assert output[-1] == "else"


@pytest.mark.parametrize("value", ["true", "1", '"0"', "[0]", '" "'])
def test_truthy_values_take_the_then_branch(value):
    assert lines(f'if {value} {{ print("then") }} else {{ print("else") }}') == ["then"]


def test_if_branch_runs_in_its_own_scope():
    assert lines("var x = 1 if true { var x = 2 print(x) } print(x)") == ["2", "1"]


def test_assignment_rebinds_the_nearest_variable():
    assert lines("var x = 1 if true { x = 2 } print(x)") == ["2"]


def test_for_runs_the_body_for_each_element_in_order():
    assert lines('for c in ["a", "b", "c"] { print(c) }') == ["a", "b", "c"]


def test_for_body_gets_a_fresh_scope_each_iteration():
    assert lines("for n in [1, 2] { var seen = n print(seen) }") == ["1", "2"]


def test_for_over_a_non_array_is_a_runtime_error_at_the_loop():
    result = run_source('function f(v) {\n  for c in v { }\n}\nf("abc")')
    assert result.errors == ["2:3: RuntimeError: cannot iterate over non-array type 'string'"]


def test_runtime_error_stops_the_program_and_keeps_earlier_output():
    result = run_source('print("before")\nvar n = len(true)\nprint("after")')
    assert result.output_lines == ["before"]
    assert result.errors == ["2:9: RuntimeError: len() expects a string or an array"]
    assert not result.ok


# -- functions --------------------------------------------------------------------------------


def test_function_binds_parameters_in_order():
    assert lines("function show(a, b) { print([a, b]) } show(1, 2)") == ["[1, 2]"]


def test_closure_reads_variables_of_its_defining_scope():
    source = """
    function outer() {
      var secret = "inner"
      function reveal() { print(secret) }
      reveal()
    }
    outer()
    """
    assert lines(source) == ["inner"]


def test_closure_sees_later_assignments_to_captured_variables():
    assert lines("var x = 1 function f() { print(x) } x = 2 f()") == ["2"]


def test_parameters_shadow_outer_variables():
    assert lines('var name = "outer" function f(name) { print(name) } f("param") print(name)') == [
        "param",
        "outer",
    ]


def test_infinite_recursion_stops_at_maximum_call_depth():
    result = run_source("function f() {\n  f()\n}\nf()")
    assert result.errors == ["2:3: RuntimeError: maximum call depth exceeded"]


def _call_chain(length: int) -> str:
    functions = [f"function f{i}() {{ f{i + 1}() }}" for i in range(1, length)]
    last = f'function f{length}() {{ print("deep") }}'
    return "\n".join([last, *reversed(functions), "f1()"])


def test_call_depth_of_one_hundred_is_allowed():
    assert lines(_call_chain(100)) == ["deep"]


def test_call_depth_of_one_hundred_and_one_fails():
    result = run_source(_call_chain(101))
    assert result.errors and result.errors[0].endswith("RuntimeError: maximum call depth exceeded")


def test_deep_recursion_inside_nested_blocks_reports_call_depth():
    result = run_source("function f() { if true { for x in [1] { if x { f() } } } } f()")
    assert result.errors[0].endswith("maximum call depth exceeded")


# -- limits -----------------------------------------------------------------------------------


HUGE_LOOPS = """
var a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
for i in a { for j in a { for k in a { for l in a { for m in a { for n in a { print(n) } } } } } }
"""


def test_huge_nested_loops_hit_the_step_limit():
    result = run_source(HUGE_LOOPS)
    assert result.errors and result.errors[0].endswith("RuntimeError: step limit exceeded")
    assert result.exit_code == 1


def test_step_limit_is_configurable():
    result = run_source('print("a") print("b") print("c")', max_steps=3)
    assert result.errors[0].endswith("RuntimeError: step limit exceeded")
    assert result.output_lines == ["a"]


def test_empty_loop_bodies_still_count_steps():
    source = "var a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nfor i in a { for j in a { for k in a { } } }"
    result = run_source(source, max_steps=500)
    assert result.errors[0].endswith("step limit exceeded")


def test_wall_clock_limit_stops_a_long_run():
    result = run_source(HUGE_LOOPS, max_steps=10**12, timeout_seconds=0.05)
    assert result.errors and result.errors[0].endswith("RuntimeError: time limit exceeded")
    assert result.elapsed_seconds < 5


def test_output_limit_stops_exponentially_growing_values():
    source = "var a = [1]\n" + "a = [a, a]\n" * 40 + "print(a)"
    result = run_source(source)
    assert result.errors[0].endswith("RuntimeError: output limit exceeded")


# -- variables --------------------------------------------------------------------------------


def test_variables_override_initial_values_of_top_level_vars():
    source = 'var env = "dev"\nvar debug = true\nprint(env)\nprint(debug)'
    result = run_source(source, variables={"env": "production", "debug": False})
    assert result.output_lines == ["production", "false"]


def test_variables_accept_numbers_arrays_and_null():
    source = "var n = 0 var items = [] var maybe = 1 print(n) print(items) print(maybe)"
    result = run_source(source, variables={"n": 3, "items": ["a", 2.5, True], "maybe": None})
    assert result.output_lines == ["3", '["a", 2.5, true]', "null"]


def test_overridden_var_does_not_evaluate_its_initial_value():
    result = run_source('var x = print("side effect")\nprint(x)', variables={"x": "given"})
    assert result.output_lines == ["given"]


def test_variables_only_override_the_top_level_declaration():
    source = 'var x = "top"\nif true { var x = "inner" print(x) }\nprint(x)'
    assert run_source(source, variables={"x": "given"}).output_lines == ["inner", "given"]


def test_unknown_variable_name_is_rejected():
    with pytest.raises(ValueError, match="unknown variable 'nope'"):
        run_source("var x = 1", variables={"nope": 1})


def test_variable_value_of_unsupported_type_is_rejected():
    with pytest.raises(ValueError, match="unsupported value"):
        run_source("var x = 1", variables={"x": {"a": 1}})


def test_declared_variables_lists_top_level_vars_in_order():
    source = """
    var b = 1
    var a = 2
    function f() { var inner = 1 }
    if true { var nested = 1 }
    for item in [1] { }
    """
    assert declared_variables(program(source)) == ["b", "a"]


def test_declared_variables_accepts_a_parsed_program():
    assert declared_variables(parse("var x = 1 var y = 2")) == ["x", "y"]


# -- exec -------------------------------------------------------------------------------------


def test_exec_disabled_records_the_block_as_skipped():
    result = run_source('exec { echo hi }\nprint("after")')
    assert [record.skipped for record in result.exec_records] == [True]
    assert result.exec_records[0].command == "echo hi"
    assert result.output_lines == ["after"]


def test_exec_disabled_fails_the_run_with_a_clear_message():
    result = run_source('print("a")\nexec { echo hi }')
    assert not result.ok
    assert result.exit_code == 1
    assert result.error.startswith("2:1: exec is disabled")
    assert "CODEAI_EXEC_ENABLED" in result.error
    assert result.transcript == "a\n" + result.error


def test_exec_enabled_runs_the_command_and_records_its_output():
    result = run_source("exec { echo hello; echo oops >&2 }", exec_enabled=True)
    record = result.exec_records[0]
    assert (record.exit_code, record.stdout, record.stderr) == (0, "hello\n", "oops\n")
    assert not record.skipped and not record.timed_out
    assert result.ok and result.exit_code == 0


def test_exec_output_is_interleaved_with_prints_in_program_order():
    result = run_source('print("a")\nexec { echo b }\nprint("c")', exec_enabled=True)
    assert result.output == "a\nb\nc"
    assert result.output_lines == ["a", "c"]


def test_exec_interpolates_variables_shell_quoted(tmp_path):
    canary = tmp_path / "pwned"
    source = f'var payload = "\\"; touch {canary}; echo \\""\nexec {{ printf "%s" $payload }}'
    result = run_source(source, exec_enabled=True)
    assert result.exec_records[0].stdout == f'"; touch {canary}; echo "'
    assert not canary.exists()


def test_exec_quotes_rm_rf_injection_as_a_single_argument():
    result = run_source('var name = "\\"; rm -rf /"\nexec { echo $name }', exec_enabled=True)
    assert result.exec_records[0].resolved_command == "echo '\"; rm -rf /'"
    assert result.exec_records[0].stdout == '"; rm -rf /\n'


def test_exec_interpolates_the_display_form_of_arrays_and_numbers():
    result = run_source('var n = 3\nvar a = ["x", 1]\nexec { echo $n $a }', exec_enabled=True)
    assert result.exec_records[0].stdout == '3 ["x", 1]\n'


def test_exec_interpolates_function_parameters():
    source = 'function greet(who) { exec { echo "hi" $who } }\ngreet("a b")'
    assert run_source(source, exec_enabled=True).exec_records[0].stdout == "hi a b\n"


def test_exec_leaves_unknown_dollar_names_to_the_shell():
    result = run_source("exec { UNSET_THING=shell; echo $UNSET_THING }", exec_enabled=True)
    assert result.exec_records[0].stdout == "shell\n"


def test_exec_nonzero_exit_does_not_stop_the_program():
    result = run_source('exec { exit 3 }\nprint("after")', exec_enabled=True)
    assert result.exec_records[0].exit_code == 3
    assert result.output_lines == ["after"]
    assert result.ok


def test_exec_timeout_is_recorded_and_the_program_goes_on():
    source = 'exec { sleep 5 }\nprint("after")'
    result = run_source(source, exec_enabled=True, exec_timeout_seconds=0.3)
    record = result.exec_records[0]
    assert record.timed_out and record.exit_code is None
    assert record.duration_seconds < 3
    assert result.output_lines == ["after"]


def test_exec_cut_short_by_the_run_deadline_ends_the_run():
    result = run_source("exec { sleep 5 }", exec_enabled=True, timeout_seconds=0.3)
    assert result.exec_records[0].timed_out
    assert result.errors == ["1:1: RuntimeError: time limit exceeded"]


def test_exec_fixture_runs_each_block_when_enabled():
    result = run(parse((CORPUS_FILES / "test__fixtures__exec.cai").read_text()), exec_enabled=True)
    assert [record.exit_code for record in result.exec_records] == [0, 0, 0, 0]
    assert "Hello World" in result.output


# -- declarations -----------------------------------------------------------------------------

WORKED_EXAMPLE = """config { name: "orders" version: "2.1.0" database_type: "postgres" }

database postgres {
  model Order {
    id: uuid, primary, auto
    status: enum(pending, paid), default("pending")
    index: [status]
  }
}

auth api_jwt { method jwt jwks_url "https://auth.example.com/jwks.json" }

@auth("api_jwt")
endpoint GET "/orders/:id" { response Order status 200 }

workflow Fulfil {
  trigger event "order.paid"
  pick: Agent("gpt-4", "Choose a warehouse")
}

var greeting = "hello\\tworld"
print(greeting)                  // output line: hello<TAB>world
"""


def test_worked_example_prints_the_decoded_greeting():
    result = run_source(WORKED_EXAMPLE)
    assert result.ok
    assert result.output_lines == ["hello\tworld"]


def test_short_form_workflow_is_collected_with_evaluated_args():
    (workflow,) = run_source(WORKED_EXAMPLE).workflows
    assert workflow["name"] == "Fulfil"
    assert workflow["form"] == "short"
    assert workflow["trigger"] == {"type": "event", "value": "order.paid"}
    assert workflow["timeout"] is None and workflow["retry"] is None
    (step,) = workflow["steps"]
    assert (step["type"], step["name"], step["activity"]) == ("step", "pick", "Agent")
    assert step["args"] == ["gpt-4", "Choose a warehouse"]


def test_short_step_args_see_top_level_variables_and_overrides():
    source = 'var model = "gpt-4"\nworkflow W {\n  ask: Agent(model, 3, [true])\n}'
    result = run_source(source, variables={"model": "echo"})
    assert result.workflows[0]["steps"][0]["args"] == ["echo", 3, [True]]


def test_short_step_args_are_neither_executed_nor_scope_checked():
    source = 'workflow W {\n  s: Agent(undefined_thing, other(1), print("x"))\n}'
    result = run_source(source)
    assert result.ok, result.errors
    assert result.output_lines == []
    assert result.workflows[0]["steps"][0]["args"] == [
        "undefined_thing",
        {"call": "other", "args": [1]},
        {"call": "print", "args": ["x"]},
    ]


def test_long_form_workflow_is_collected_with_steps_parallel_groups_and_retry():
    source = """
    workflow order_fulfillment {
      trigger event "order.created"
      timeout "2h"
      steps {
        validate_order {
          activity "orders.validate"
          input { order_id: "workflow.input.order_id" }
        }
        parallel {
          reserve { activity "inventory.reserve" }
          notify { activity "warehouse.notify" if "steps.validate_order.output.ok" }
        }
      }
      retry { max_attempts 3 initial_interval "10s" backoff_multiplier 2.0 }
    }
    """
    (workflow,) = run_source(source).workflows
    assert workflow["form"] == "long"
    assert workflow["trigger"] == {"type": "event", "value": "order.created"}
    assert workflow["timeout"] == "2h"
    assert workflow["retry"]["max_attempts"] == 3
    assert workflow["retry"]["initial_interval"] == "10s"
    assert workflow["retry"]["backoff_multiplier"] == 2
    first, group = workflow["steps"]
    assert first["name"] == "validate_order"
    assert first["activity"] == "orders.validate"
    assert first["args"] == []
    assert first["input"] == {"order_id": "workflow.input.order_id"}
    assert group["type"] == "parallel"
    assert [child["name"] for child in group["steps"]] == ["reserve", "notify"]
    assert group["steps"][1]["condition"] == "steps.validate_order.output.ok"


def test_manual_trigger_has_no_value():
    source = 'workflow w {\n  trigger manual\n  steps { s { activity "a" } }\n}'
    assert run_source(source).workflows[0]["trigger"] == {"type": "manual", "value": None}


def test_jobs_are_collected_with_schedule_task_queue_and_retry():
    source = """
    job cleanup_sessions {
      schedule "0 * * * *"
      task "maintenance.cleanup_sessions"
      queue "low_priority"
      retry { max_attempts 2 initial_interval "30s" backoff_multiplier 1.5 }
    }
    job adhoc { task "echo" }
    """
    cleanup, adhoc = run_source(source).jobs
    assert cleanup["name"] == "cleanup_sessions"
    assert cleanup["schedule"] == "0 * * * *"
    assert cleanup["task"] == "maintenance.cleanup_sessions"
    assert cleanup["queue"] == "low_priority"
    assert cleanup["retry"]["max_attempts"] == 2
    assert cleanup["retry"]["initial_interval"] == "30s"
    assert cleanup["retry"]["backoff_multiplier"] == 1.5
    assert adhoc == {
        "name": "adhoc",
        "source": adhoc["source"],
        "schedule": None,
        "task": "echo",
        "queue": None,
        "retry": None,
    }


def test_declarations_inside_bodies_are_not_collected():
    source = 'if true {\n  job inner { task "t" }\n}\njob outer { task "t" }'
    assert [job["name"] for job in run_source(source).jobs] == ["outer"]


def test_declarations_are_collected_per_kind_in_source_order():
    declarations = run_source(WORKED_EXAMPLE).declarations
    assert [c["properties"]["name"] for c in declarations["configs"]] == ["orders"]
    assert declarations["databases"][0]["models"][0]["name"] == "Order"
    assert declarations["auths"][0]["jwks"]["url"] == "https://auth.example.com/jwks.json"
    assert declarations["endpoints"][0]["path"] == "/orders/:id"
    assert declarations["endpoints"][0]["response"] == {"type": "Order", "status": 200}


def test_repo_workflow_example_collects_four_workflows_and_seven_jobs():
    source = (CORPUS_FILES / "examples__09-workflows__with_workflows.cai").read_text()
    result = run_source(source)
    assert len(result.workflows) == 4
    assert len(result.jobs) == 7
    assert result.workflows[2]["trigger"] == {"type": "schedule", "value": "0 6 * * *"}


def test_collect_declarations_works_without_running():
    model = collect_declarations(parse('var m = "x"\nworkflow W { s: Agent(m, "p") }'))
    assert model["workflows"][0]["steps"][0]["args"] == ["m", "p"]


# -- result -----------------------------------------------------------------------------------


def test_run_accepts_a_parsed_program():
    assert run(parse('print("ok")')).output == "ok"


def test_result_to_dict_is_json_serialisable():
    result = run_source(WORKED_EXAMPLE + "\nexec { echo hi }")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["ok"] is False
    assert data["exit_code"] == 1
    assert data["output"] == "hello\tworld"
    assert data["exec_records"][0]["skipped"] is True
    assert data["declarations"]["workflows"][0]["name"] == "Fulfil"


@pytest.mark.parametrize(
    "name",
    [
        "test__fixtures__simple.cai",
        "test__fixtures__functions.cai",
        "test__fixtures__loops.cai",
        "test__fixtures__conditionals.cai",
        "test_simple.cai",
    ],
)
def test_valid_corpus_fixtures_run_cleanly(name):
    result = run_source((CORPUS_FILES / name).read_text())
    assert result.ok, result.errors


def test_complex_fixture_runs_cleanly_with_exec_enabled():
    result = run_source(
        (CORPUS_FILES / "test__fixtures__complex.cai").read_text(), exec_enabled=True
    )
    assert result.ok, result.errors
    assert result.output == "Starting configuration\nConfiguration complete"
