"""Lexical structure (spec §1, §4.1): positions, whitespace, comments, tokens, exec blocks."""

from __future__ import annotations

import pytest

from apps.dsl.compiler import DslSyntaxError, compile_source, parse, to_json
from apps.dsl.compiler.errors import quote
from apps.dsl.compiler.keywords import KEYWORDS, RESERVED


def error_of(source: str) -> str:
    """The single parse error of ``source`` as ``L:C: message`` without the optional suffix."""
    with pytest.raises(DslSyntaxError) as info:
        parse(source)
    return str(info.value).split(" (expected ")[0]


def first_statement(source: str) -> dict:
    return to_json(parse(source))["Statements"][0]


# -- positions -----------------------------------------------------------------------------------


def test_positions_on_multi_line_input_are_true_line_and_column():
    source = "var a = 1\n\n  var b = [a,\n    2]\n"
    b = to_json(parse(source))["Statements"][1]
    assert b["Pos"] == {"Line": 3, "Column": 3}
    assert b["Value"]["Elements"][0]["Pos"] == {"Line": 3, "Column": 12}
    assert b["Value"]["Elements"][1]["Pos"] == {"Line": 4, "Column": 5}


def test_crlf_line_endings_count_carriage_return_as_a_column():
    assert error_of("var x = 1\r\nvar y = 2 $\r\n") == '2:11: lexer: invalid input text "$\\r\\n"'
    assert error_of("var x = 1\r$") == '1:11: lexer: invalid input text "$"'


def test_crlf_file_parses_with_positions_after_the_carriage_returns():
    program = to_json(parse("var x = 1\r\nvar y = x\r\n"))
    assert program["Statements"][1]["Value"]["Pos"] == {"Line": 2, "Column": 9}


def test_tab_counts_as_one_column():
    assert error_of("\tvar x = $") == '1:10: lexer: invalid input text "$"'


def test_unicode_in_strings_and_comments_counts_code_points():
    source = 'var s = "héllo 😀 wörld" // ünïcödé 😀\nvar t = "é" /* ☃ */ $'
    assert error_of(source) == '2:21: lexer: invalid input text "$"'


def test_unicode_string_value_is_kept_raw():
    assert first_statement('var s = "héllo 😀"')["Value"]["Value"] == "héllo 😀"


def test_end_of_input_position_after_trailing_newline_is_next_line():
    assert error_of("if x {\n") == '2:1: unexpected token "<EOF>"'
    assert error_of("if x {") == '1:7: unexpected token "<EOF>"'


def test_only_line_feed_separates_lines():
    # a lone \r, \f or U+2028 does not start a new line
    assert error_of('var s = "a\u2028b"\rvar t = $') == '1:23: lexer: invalid input text "$"'


# -- whitespace and comments ---------------------------------------------------------------------


def test_form_feed_is_whitespace():
    assert first_statement("var\fx = 1")["Name"] == "x"


@pytest.mark.parametrize(
    ("char", "shown"),
    [("\v", "\\v"), ("\u00a0", "\\u00a0"), ("\x01", "\\x01"), ("\u3000", "\\u3000")],
)
def test_other_space_like_characters_are_lexical_errors(char, shown):
    assert error_of(f"var x{char}= 1") == f'1:6: lexer: invalid input text "{shown}= 1"'


def test_block_comment_ends_at_first_close_and_does_not_nest():
    assert error_of("/* a /* b */ c */") == '1:16: lexer: invalid input text "*/"'
    assert first_statement("/***/ var x = 1 /* a **/")["Name"] == "x"


def test_unclosed_block_comment_is_error_at_the_slash():
    assert error_of("var x = 1\n  /* never closed") == (
        '2:3: lexer: invalid input text "/* never closed"'
    )


def test_line_comment_runs_to_end_of_input():
    assert to_json(parse("var x = 1 // trailing"))["Statements"][0]["Name"] == "x"


def test_braces_quotes_and_at_signs_inside_comments_have_no_effect():
    assert len(parse('// } " @ endpoint\n/* { " @x */ var a = 1').statements) == 1


# -- tokens --------------------------------------------------------------------------------------


def test_keyword_table_has_94_words_each_its_own_token():
    assert len(KEYWORDS) == 94
    assert len(set(RESERVED.values())) == 94


def test_keywords_are_case_sensitive():
    assert first_statement("Config = 1")["Name"] == "Config"


def test_block_keywords_are_identifiers_outside_their_blocks():
    assert [s["Name"] for s in to_json(parse("var steps = 1 var task = steps"))["Statements"]] == [
        "steps",
        "task",
    ]


def test_words_are_ascii_only():
    assert error_of("var naïve = 1") == '1:7: lexer: invalid input text "ïve = 1"'


def test_number_forms():
    values = [
        s["Value"]["Value"]
        for s in to_json(parse("var a = 42 var b = 3.14 var c = 1. var d = 007"))["Statements"]
    ]
    assert values == [42, 3.14, 1, 7]


def test_number_followed_by_word_splits_into_two_tokens():
    statements = to_json(parse("var x = 9config = 2"))["Statements"]
    assert [s["Kind"] for s in statements] == ["VarDecl", "Assignment"]
    assert statements[1]["Pos"] == {"Line": 1, "Column": 10}


def test_number_with_two_dots_errors_at_the_second_dot():
    assert error_of("var x = 1..2") == '1:11: lexer: invalid input text ".2"'


def test_minus_is_a_lexical_error():
    assert error_of("var x = -1") == '1:9: lexer: invalid input text "-1"'


def test_string_may_contain_raw_newlines():
    assert first_statement('var s = "a\nb"')["Value"]["Value"] == "a\nb"


def test_string_escapes_are_not_decoded():
    assert first_statement(r'var s = "a\"b\n\\"')["Value"]["Value"] == r"a\"b\n\\"


def test_backslash_before_newline_is_error_at_opening_quote():
    assert error_of('var s = "a\\\nb"') == '1:9: lexer: invalid input text "\\"a\\\\\\nb\\""'


def test_backslash_at_end_of_input_is_error_at_opening_quote():
    assert error_of('var s = "a\\') == '1:9: lexer: invalid input text "\\"a\\\\"'


def test_error_sample_is_cut_to_16_characters():
    assert error_of("var x = 1 #" + "y" * 40) == (
        '1:11: lexer: invalid input text "#yyyyyyyyyyyyyyy..."'
    )


def test_error_sample_of_exactly_16_characters_is_not_cut():
    assert error_of("#" + "y" * 15) == '1:1: lexer: invalid input text "#yyyyyyyyyyyyyyy"'


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\a\b\f\n\r\t\v", '"\\a\\b\\f\\n\\r\\t\\v"'),
        ("\x00\x1f\x7f", '"\\x00\\x1f\\x7f"'),
        ("é☃", '"é☃"'),
        ("\u00a0\u200b", '"\\u00a0\\u200b"'),
        ("\U000e0001", '"\\U000e0001"'),
    ],
)
def test_quoting_follows_go_strconv_quote(text, quoted):
    assert quote(text) == quoted


def test_syntax_error_before_a_lexical_error_wins():
    assert error_of("var x =\nvar y = 1 $") == '2:1: unexpected token "var"'


def test_lexical_error_reached_by_the_parser_is_reported():
    assert error_of("var x = 1\nvar y = $") == '2:9: lexer: invalid input text "$"'


# -- exec blocks ---------------------------------------------------------------------------------


def test_exec_command_keeps_inner_text_and_strips_unicode_white_space():
    stmt = first_statement('exec {\u3000\n  echo "a" // not a comment\n    ls $HOME /* x */\n }')
    assert stmt == {
        "Kind": "ExecBlock",
        "Command": 'echo "a" // not a comment\n    ls $HOME /* x */',
        "Pos": {"Line": 1, "Column": 1},
    }


def test_exec_opener_allows_whitespace_before_the_brace():
    assert first_statement("exec \n\t {pwd}")["Command"] == "pwd"


def test_exec_block_ends_at_the_first_closing_brace():
    assert error_of("exec { echo ${HOME} }") == '1:21: unexpected token "}"'


def test_exec_without_brace_is_an_identifier():
    assert first_statement("var x = exec")["Value"] == {
        "Kind": "Identifier",
        "Name": "exec",
        "Pos": {"Line": 1, "Column": 9},
    }


def test_exec_opener_text_is_used_in_errors():
    assert error_of("var x = exec\n{ ls }") == '1:9: unexpected token "exec\\n{"'


def test_unclosed_exec_fails_at_end_of_input():
    assert error_of("exec { ls\n") == '2:1: unexpected token "<EOF>"'


def test_exec_followed_by_brace_can_never_be_a_name():
    assert error_of("database postgres { model exec { } }") == ('1:27: unexpected token "exec {"')


def test_compile_source_reports_lexical_errors_as_a_single_error():
    result = compile_source("var a = 1.5.3")
    assert result.ast_json is None
    assert result.errors == ['1:12: lexer: invalid input text ".3"']
