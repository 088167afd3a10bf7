"""Generate the LALR tables of :mod:`.grammar` with PLY.

Run ``python -m apps.dsl.compiler.build_tables`` after changing the grammar (or the token list)
to rewrite ``_generated_parsetab.py``. The parser loads that module at run time; a test checks
that its PLY signature matches the grammar, so a stale table cannot go unnoticed (and if it
ever is stale at run time, the parser rebuilds the tables in memory and logs a warning).

Nothing is ever written at run time: no ``parsetab.py`` and no ``parser.out``.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from ply import yacc

from . import grammar

TABLE_MODULE = "_generated_parsetab"
PACKAGE = __name__.rpartition(".")[0]
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

#: the grammar has exactly one shift/reduce conflict: ``async`` after a handler (spec §2.7)
EXPECTED_SR_CONFLICTS = 1

log = logging.getLogger(__name__)


class _Log:
    """PLY logger adapter: collect errors, send warnings to :mod:`logging`."""

    def __init__(self):
        self.errors: list[str] = []

    def debug(self, msg, *args, **kwargs):
        pass

    info = debug

    def warning(self, msg, *args, **kwargs):
        log.debug("ply: " + msg, *args)

    def error(self, msg, *args, **kwargs):
        self.errors.append(msg % args if args else msg)

    critical = error


def grammar_dict() -> dict:
    return {name: getattr(grammar, name) for name in dir(grammar)}


def reflect() -> yacc.ParserReflect:
    pinfo = yacc.ParserReflect(grammar_dict(), log=_Log())
    pinfo.get_all()
    if pinfo.error:
        raise yacc.YaccError("unable to read the grammar")
    return pinfo


def signature() -> str:
    """The PLY signature of the grammar (what PLY compares against ``_lr_signature``)."""
    return reflect().signature()


def generate() -> tuple[yacc.LRGeneratedTable, str]:
    """Build the LALR tables in memory; returns ``(table, signature)``."""
    errlog = _Log()
    pinfo = yacc.ParserReflect(grammar_dict(), log=errlog)
    pinfo.get_all()
    if pinfo.error or pinfo.validate_all():
        raise yacc.YaccError("invalid grammar: " + "; ".join(errlog.errors))
    g = yacc.Grammar(pinfo.tokens)
    for funcname, (file, line, prodname, syms) in pinfo.grammar:
        g.add_production(prodname, syms, funcname, file, line)
    g.set_start(pinfo.start)
    problems = [f"undefined symbol {sym!r}" for sym, _ in g.undefined_symbols()]
    problems += [f"unused token {t!r}" for t in g.unused_terminals()]
    problems += [f"unused rule {p.name!r}" for p in g.unused_rules()]
    problems += [f"unreachable symbol {s!r}" for s in g.find_unreachable()]
    problems += [f"infinite recursion in {s!r}" for s in g.infinite_cycles()]
    if problems:
        raise yacc.YaccError("invalid grammar: " + "; ".join(problems))
    table = yacc.LRGeneratedTable(g, "LALR", errlog)
    if len(table.sr_conflicts) != EXPECTED_SR_CONFLICTS or table.rr_conflicts:
        details = [f"s/r state {s} on {tok} ({res})" for s, tok, res in table.sr_conflicts]
        details += [f"r/r state {s}: {r} vs {rej}" for s, r, rej in table.rr_conflicts]
        raise yacc.YaccError("unexpected grammar conflicts: " + "; ".join(details))
    return table, pinfo.signature()


def _encode(table: yacc.LRGeneratedTable, sig: str) -> str:
    """The module text: PLY's table variables, with the bulky action/goto tables stored as one
    compact JSON string (lookahead sets shared between states) so the module loads in a few
    milliseconds even without a ``.pyc``."""
    action: dict[int, dict[str, int]] = table.lr_action
    goto: dict[int, dict[str, int]] = table.lr_goto
    terminals = sorted({t for acts in action.values() for t in acts})
    term_index = {t: i for i, t in enumerate(terminals)}
    nonterminals = sorted({n for gotos in goto.values() for n in gotos})
    nt_index = {n: i for i, n in enumerate(nonterminals)}
    groups: list[list[int]] = []
    group_index: dict[tuple[int, ...], int] = {}
    states = []
    for state in range(max(action) + 1):
        by_value: dict[int, list[int]] = {}
        for tok, value in action.get(state, {}).items():
            by_value.setdefault(value, []).append(term_index[tok])
        row = []
        for value, toks in sorted(by_value.items()):
            key = tuple(sorted(toks))
            gid = group_index.get(key)
            if gid is None:
                gid = group_index[key] = len(groups)
                groups.append(list(key))
            row += [gid, value]
        states.append(row)
    gotos = {
        str(state): [x for n, target in sorted(g.items()) for x in (nt_index[n], target)]
        for state, g in sorted(goto.items())
    }
    productions = [[p.str, p.name, p.len, p.func, p.line] for p in table.lr_productions]
    data = {
        "terminals": terminals,
        "nonterminals": nonterminals,
        "groups": groups,
        "action": states,
        "goto": gotos,
        "productions": productions,
    }
    blob = json.dumps(data, separators=(",", ":"))
    return _MODULE_TEMPLATE.format(
        tabversion=yacc.__tabversion__,
        signature=sig,
        blob=blob,
    )


_MODULE_TEMPLATE = """\
# _generated_parsetab.py -- LALR tables of apps/dsl/compiler/grammar.py.
# Generated by `python -m apps.dsl.compiler.build_tables`; do not edit.
# pylint: disable=W,C,R
import json as _json

_tabversion = {tabversion!r}

_lr_method = 'LALR'

_lr_signature = {signature!r}

_DATA = {blob!r}


def _decode(data):
    terms = data["terminals"]
    nts = data["nonterminals"]
    groups = [[terms[i] for i in g] for g in data["groups"]]
    action = {{}}
    for state, row in enumerate(data["action"]):
        acts = {{}}
        for i in range(0, len(row), 2):
            value = row[i + 1]
            for tok in groups[row[i]]:
                acts[tok] = value
        action[state] = acts
    goto = {{}}
    for state, row in data["goto"].items():
        goto[int(state)] = {{nts[row[i]]: row[i + 1] for i in range(0, len(row), 2)}}
    productions = [
        (s, name, length, func, "grammar.py" if func else None, line)
        for s, name, length, func, line in data["productions"]
    ]
    return action, goto, productions


_lr_action, _lr_goto, _lr_productions = _decode(_json.loads(_DATA))
del _DATA
"""


def write(outputdir: str = PACKAGE_DIR) -> str:
    """Generate the tables and write ``_generated_parsetab.py`` into ``outputdir``."""
    table, sig = generate()
    path = os.path.join(outputdir, TABLE_MODULE + ".py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(_encode(table, sig))
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    outputdir = argv[0] if argv else PACKAGE_DIR
    path = write(outputdir)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
