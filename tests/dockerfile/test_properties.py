"""Property tests: the lexer and parser never crash, and the AST dump round-trips."""

from __future__ import annotations

import contextlib
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from dockyard.dockerfile import Dockerfile, ShellLex, ShellSyntaxError, from_ast, parse
from dockyard.errors import DockerfileError

FRAGMENTS = [
    "FROM ",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "ARG ",
    "LABEL ",
    "CMD ",
    "ONBUILD ",
    "HEALTHCHECK ",
    "EXPOSE ",
    "VOLUME ",
    "SHELL ",
    "WORKDIR ",
    "USER ",
    "MAINTAINER ",
    "STOPSIGNAL ",
    "ENTRYPOINT ",
    "--from=a ",
    "--mount=type=cache,target=/x ",
    "--chown=",
    "--link ",
    "--",
    "=",
    " ",
    "\t",
    "\n",
    "\\\n",
    "`\n",
    "\\",
    "`",
    '"',
    "'",
    "$",
    "${",
    "}",
    ":-",
    "#",
    "# escape=`\n",
    "<<EOF",
    "<<-EOF",
    "<<'EOF'",
    "\nEOF\n",
    "[",
    "]",
    ",",
    '["a", "b"]',
    "x",
    "é",
    "\r\n",
    "\x85",
    "\u3000",
    "\x00",
]

dockerfile_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=40
).map("".join)
word_text = st.lists(
    st.one_of(
        st.sampled_from(
            ["$", "${", "}", ":", "-", "+", "?", "#", "%", "/", "'", '"', "\\", "A", " ", "*"]
        ),
        st.text(max_size=3),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(word_text, st.sampled_from(["\\", "`"]))
def test_lexer_never_crashes(word: str, escape: str) -> None:
    lex = ShellLex(escape)
    env = {"A": "a b", "EMPTY": ""}
    for method in (lex.process_word, lex.process_words):
        with contextlib.suppress(ShellSyntaxError):
            method(word, env)


@settings(max_examples=400, deadline=None)
@given(dockerfile_text)
def test_parser_never_crashes(text: str) -> None:
    try:
        df = parse(text)
    except DockerfileError:
        return
    with contextlib.suppress(DockerfileError):
        from_ast(df)


_TOKEN = re.compile(r'\s*(\(|\)|\[|\]|"(?:[^"\\]|\\.)*"|[^\s()\[\]"]+)', re.DOTALL)
_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}


def _unquote(token: str) -> str:
    body = token[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        kind = body[i + 1]
        if kind in _ESCAPES:
            out.append(_ESCAPES[kind])
            i += 2
        elif kind == "x":
            code = int(body[i + 2 : i + 4], 16)
            out.append(chr(code) if code < 0x80 else chr(0xDC00 + code))
            i += 4
        elif kind == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        else:
            out.append(chr(int(body[i + 2 : i + 10], 16)))
            i += 10
    return "".join(out)


def _read_dump(text: str) -> list[tuple[str, list[str], list[object]]]:
    """Parse the S-expression dump back into (name, flags, args) with ONBUILD nesting."""
    tokens = [m.group(1) for m in _TOKEN.finditer(text) if m.group(1)]
    pos = 0

    def expr() -> tuple[str, list[str], list[object]]:
        nonlocal pos
        assert tokens[pos] == "("
        pos += 1
        name = ""
        if tokens[pos] not in ("(", ")", "[") and not tokens[pos].startswith('"'):
            name = tokens[pos]
            pos += 1
        flags: list[str] = []
        if tokens[pos] == "[":
            pos += 1
            while tokens[pos] != "]":
                flags.append(_unquote(tokens[pos]))
                pos += 1
            pos += 1
        args: list[object] = []
        while tokens[pos] != ")":
            if tokens[pos] == "(":
                args.append(expr())
            else:
                args.append(_unquote(tokens[pos]))
                pos += 1
        pos += 1
        return name, flags, args

    out = []
    while pos < len(tokens):
        out.append(expr())
    return out


def _tree(df: Dockerfile) -> list[tuple[str, list[str], list[object]]]:
    def node_tree(node):  # type: ignore[no-untyped-def]
        args: list[object] = []
        for arg in node.next:
            if arg.children:
                args.append(node_tree(arg.children[0]))
            else:
                args.append(arg.value)
        return node.name, list(node.flags), args

    return [node_tree(node) for node in df.nodes]


@settings(max_examples=400, deadline=None)
@given(dockerfile_text)
@example("ONBUILD =\x85FROM ")  # NEL is whitespace to the reader: regression
@example('ONBUILD ["a", "b"]')  # nested name '["a",' holds dump syntax: regression
@example("ONBUILD RUN echo hi")
def test_dump_round_trips(text: str) -> None:
    try:
        df = parse(text)
    except DockerfileError:
        return
    # A name that is blank, or contains dump syntax, cannot be read back
    # unambiguously; that holds for ONBUILD's nested instructions too.
    names = [n.name for n in df.nodes]
    names += [sub.name for n in df.nodes for a in n.next for sub in a.children]
    if any(not n or re.search(r'[\s()\[\]"]', n) for n in names):
        return
    assert _read_dump(df.dump()) == _tree(df)
