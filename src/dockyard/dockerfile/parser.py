"""Dockerfile text to a BuildKit-compatible parse tree (nodes with line numbers); no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard.dockerfile.goquote import go_quote, go_quote_list
from dockyard.dockerfile.shell import ShellLex, ShellSyntaxError
from dockyard.errors import DockerfileError

__all__ = [
    "INSTRUCTIONS",
    "Directive",
    "Dockerfile",
    "Heredoc",
    "Node",
    "chomp_heredoc_content",
    "parse",
    "parse_heredoc",
]

INSTRUCTIONS = (
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
)

_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_GO_SPACE_SET = frozenset(_GO_SPACE)
# unicode.IsSpace(rune(b)) for a single byte, as Go's byte-wise loops use it.
_BYTE_SPACES = frozenset(b"\t\n\v\f\r \x85\xa0")
_RE_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_RE_DIRECTIVE = re.compile(
    r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z", re.DOTALL
)
_RE_HEREDOC = re.compile(r"([0-9]*)<<(-?)([^<]*)\Z")
_RE_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
_VALID_DIRECTIVES = frozenset(("syntax", "escape", "check"))
_HEREDOC_INSTRUCTIONS = frozenset(("add", "copy", "run"))
_CONTINUATION = {
    "\\": re.compile(r"([^\\])\\[ \t]*\Z|^\\[ \t]*\Z", re.DOTALL),
    "`": re.compile(r"([^`])`[ \t]*\Z|^`[ \t]*\Z", re.DOTALL),
}


def go_lower(text: str) -> str:
    """``strings.ToLower`` (one rune to one rune)."""
    if text.isascii():
        return text.lower()
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


@dataclass(frozen=True, slots=True)
class Heredoc:
    """A here-document attached to RUN, COPY or ADD."""

    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    file_descriptor: int = 0

    @property
    def data(self) -> str:
        """The content, with leading tabs removed for ``<<-``."""
        return chomp_heredoc_content(self.content) if self.chomp else self.content


@dataclass(frozen=True, slots=True)
class Node:
    """One parse-tree node, shaped like BuildKit's ``parser.Node``.

    A top-level node is an instruction: ``value`` is the instruction as written
    (``RUN``), ``next`` its argument nodes, ``flags`` its ``--flags``. An argument node
    has a ``value`` and, for ONBUILD, one child: the trigger instruction.
    """

    value: str
    next: tuple[Node, ...] = ()
    children: tuple[Node, ...] = ()
    flags: tuple[str, ...] = ()
    heredocs: tuple[Heredoc, ...] = ()
    json: bool = False
    original: str = ""
    start_line: int = 0
    end_line: int = 0
    comments: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The instruction in lower case (``run``)."""
        return go_lower(self.value)

    @property
    def args(self) -> tuple[str, ...]:
        """The argument words (BuildKit's ``nodeArgs``); ONBUILD yields the trigger's words."""
        out: list[str] = []
        for arg in self.next:
            if not arg.children:
                out.append(arg.value)
            elif len(arg.children) == 1:
                sub = arg.children[0]
                out.append(sub.value)
                out.extend(sub.args)
        return tuple(out)

    def dump(self) -> str:
        """BuildKit's ``Node.Dump()``: the S-expression without outer parentheses."""
        text = go_lower(self.value)
        if self.flags:
            text += " " + go_quote_list(self.flags)
        for child in self.children:
            text += "(" + child.dump() + ")\n"
        for arg in self.next:
            text += " " + (arg.dump() if arg.children else go_quote(arg.value))
        return text.strip(_GO_SPACE)


@dataclass(frozen=True, slots=True)
class Directive:
    """A parser directive (``# syntax=``, ``# escape=``, ``# check=``) and its line."""

    name: str
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """A parsed Dockerfile: directives, instruction nodes, and the source for messages."""

    filename: str
    nodes: tuple[Node, ...]
    directives: tuple[Directive, ...] = ()
    escape_token: str = "\\"  # noqa: S105
    warnings: tuple[str, ...] = ()
    source_lines: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def directive(self, name: str) -> str | None:
        """The value of directive ``name`` if present."""
        for item in self.directives:
            if item.name == name:
                return item.value
        return None

    def dump(self) -> str:
        """The parse tree as in BuildKit's parser test results; ends with a newline."""
        return "".join("(" + node.dump() + ")\n" for node in self.nodes)

    def source_line(self, line: int | None) -> str | None:
        """The 1-based source line (without its newline), if there is one."""
        if line is None or not 1 <= line <= len(self.source_lines):
            return None
        return self.source_lines[line - 1].rstrip("\r\n")

    def error(
        self,
        message: str,
        node: Node | None = None,
        *,
        line: int | None = None,
        token: str | None = None,
        hint: str | None = None,
    ) -> DockerfileError:
        """A DockerfileError located at ``node`` (or ``line``), with a caret under ``token``."""
        if line is None and node is not None:
            line = node.start_line
        return _located_error(self.source_lines, self.filename, message, line, token, hint)


def _located_error(
    lines: tuple[str, ...] | list[str],
    filename: str,
    message: str,
    line: int | None,
    token: str | None = None,
    hint: str | None = None,
) -> DockerfileError:
    source: str | None = None
    column: int | None = None
    if line is not None and 1 <= line <= len(lines):
        source = lines[line - 1].rstrip("\r\n")
        stripped = len(source) - len(source.lstrip(_GO_SPACE))
        column = stripped + 1
        if token:
            found = source.find(token)
            if found >= 0:
                column = found + 1
    return DockerfileError(
        message, file=filename, line=line, column=column, source_line=source, hint=hint
    )


class _ParseError(Exception):
    """Internal: a message that the caller locates."""


# ---------------------------------------------------------------------------- line parsers

_ParseFn = Callable[[str, "_State"], tuple[tuple["Node", ...], bool]]


class _State:
    __slots__ = ("directives", "done", "escape", "regex", "seen")

    def __init__(self) -> None:
        self.escape = "\\"
        self.regex = _CONTINUATION["\\"]
        self.done = False
        self.seen: set[str] = set()
        self.directives: list[Directive] = []

    def possible_directive(self, line: str, number: int) -> None:
        if self.done:
            return
        match = _RE_DIRECTIVE.match(line)
        if match is None:
            self.done = True
            return
        key = match.group(1).lower()
        if key not in _VALID_DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise _ParseError(f"only one {key} parser directive can be used")
        self.seen.add(key)
        value = match.group(2)
        if key == "escape":
            if value not in ("`", "\\"):
                raise _ParseError(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
            self.regex = _CONTINUATION[value]
        self.directives.append(Directive(key, value, number))


_GO_SPACE_RUN = re.compile("[" + _GO_SPACE + "]+")
_WORD_PATTERN = "(?:[^" + _GO_SPACE + "'\"]|\"[^\"]*\"|'[^']*')+"
_QUOTED_WORD = re.compile(_WORD_PATTERN)
_QUOTED_WORDS = re.compile(
    "["
    + _GO_SPACE
    + "]*(?:"
    + _WORD_PATTERN
    + "(?:["
    + _GO_SPACE
    + "]+"
    + _WORD_PATTERN
    + ")*)?["
    + _GO_SPACE
    + "]*"
)


def _parse_words(rest: str, escape: str) -> list[str]:
    """BuildKit's ``parseWords``: split on white space, keeping quotes and escapes."""
    if escape not in rest:
        if "'" not in rest and '"' not in rest:
            return [word for word in _GO_SPACE_RUN.split(rest) if word]
        if _QUOTED_WORDS.fullmatch(rest):
            return _QUOTED_WORD.findall(rest)
    words: list[str] = []
    buf: list[str] = []
    in_word = False
    in_quote = False
    quote = ""
    blank_ok = False
    n = len(rest)
    pos = 0
    while pos < n:
        ch = rest[pos]
        if not in_word and not in_quote:
            if ch in _GO_SPACE_SET:
                pos += 1
                continue
            in_word = True
        if in_word:
            if ch in _GO_SPACE_SET:
                in_word = False
                if blank_ok or buf:
                    words.append("".join(buf))
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                in_word = False
                in_quote = True
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                buf.append(ch)
                pos += 1
                ch = rest[pos]
            buf.append(ch)
            pos += 1
            continue
        # in quote
        if ch == quote:
            in_quote = False
            in_word = True
        if ch == escape and quote != "'":
            if pos + 1 == n:
                in_quote = False
                in_word = True
                pos += 1
                continue
            pos += 1
            buf.append(ch)
            ch = rest[pos]
        buf.append(ch)
        pos += 1
    if (in_word or in_quote) and (blank_ok or buf):
        words.append("".join(buf))
    return words


def _chain(values: list[str] | tuple[str, ...]) -> tuple[Node, ...]:
    return tuple(Node(value) for value in values)


def _parse_ignore(rest: str, state: _State) -> tuple[tuple[Node, ...], bool]:
    return (Node(""),), False


def _parse_sub_command(rest: str, state: _State) -> tuple[tuple[Node, ...], bool]:
    if not rest:
        return (), False
    child = _node_from_line(rest, state, ())
    return (Node("", children=(child,)),), False


def _parse_name_val(rest: str, key: str, state: _State) -> tuple[Node, ...]:
    words = _parse_words(rest, state.escape)
    if not words:
        return ()
    if "=" not in words[0]:
        parts = _RE_WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _ParseError(f"{key} must have two arguments")
        return _chain((parts[0], parts[1], ""))
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise _ParseError(
                f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value"
            )
        name, value = word.split("=", 1)
        out += (name, value, "=")
    return _chain(out)


def _parse_env(rest: str, state: _State) -> tuple[tuple[Node, ...], bool]:
    return _parse_name_val(rest, "ENV", state), False


def _parse_label(rest: str, state: _State) -> tuple[tuple[Node, ...], bool]:
    return _parse_name_val(rest, "LABEL", state), False


def _parse_name_or_name_val(rest: str, state: _State) -> tuple[tuple[Node, ...], bool]:
    return _chain(_parse_words(rest, state.escape)), False


def _parse_whitespace_delimited(rest: str, state: _State) -> tuple[tuple[Node, ...], bool]:
    if not rest:
        return (), False
    return _chain(_RE_WHITESPACE.split(rest)), False


def _parse_string(rest: str, state: _State) -> tuple[tuple[Node, ...], bool]:
    if not rest:
        return (), False
    return (Node(rest),), False


class _NotStringArrayError(Exception):
    pass


def _reject_constant(name: str) -> object:
    raise ValueError(name)


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


_SURROGATES = re.compile("[\ud800-\udfff]")


def _parse_json(rest: str) -> tuple[Node, ...] | None:
    """The JSON array form, or None if ``rest`` is not one (BuildKit falls back to a string)."""
    rest = rest.lstrip(_GO_SPACE)
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_reject_constant, parse_float=_parse_float)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list):
        return None
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise _ParseError(
                "when using JSON array syntax, arrays must be comprised of strings only"
            )
        out.append(_SURROGATES.sub("\ufffd", item))
    return _chain(out)


def _parse_maybe_json(rest: str, state: _State) -> tuple[tuple[Node, ...], bool]:
    if not rest:
        return (), False
    nodes = _parse_json(rest)
    if nodes is not None:
        return nodes, True
    return (Node(rest),), False


def _parse_maybe_json_to_list(rest: str, state: _State) -> tuple[tuple[Node, ...], bool]:
    nodes = _parse_json(rest)
    if nodes is not None:
        return nodes, True
    return _parse_whitespace_delimited(rest, state)


def _parse_health_config(rest: str, state: _State) -> tuple[tuple[Node, ...], bool]:
    data = rest.encode("utf-8", "surrogateescape")
    sep = 0
    while sep < len(data) and data[sep] not in _BYTE_SPACES:
        sep += 1
    nxt = sep
    while nxt < len(data) and data[nxt] in _BYTE_SPACES:
        nxt += 1
    if sep == 0:
        return (), False
    typ = data[:sep].decode("utf-8", "surrogateescape")
    cmd, is_json = _parse_maybe_json(data[nxt:].decode("utf-8", "surrogateescape"), state)
    return (Node(typ), *cmd), is_json


_DISPATCH: dict[str, _ParseFn] = {
    "add": _parse_maybe_json_to_list,
    "arg": _parse_name_or_name_val,
    "cmd": _parse_maybe_json,
    "copy": _parse_maybe_json_to_list,
    "entrypoint": _parse_maybe_json,
    "env": _parse_env,
    "expose": _parse_whitespace_delimited,
    "from": _parse_whitespace_delimited,
    "healthcheck": _parse_health_config,
    "label": _parse_label,
    "maintainer": _parse_string,
    "onbuild": _parse_sub_command,
    "run": _parse_maybe_json,
    "shell": _parse_maybe_json,
    "stopsignal": _parse_string,
    "user": _parse_string,
    "volume": _parse_maybe_json_to_list,
    "workdir": _parse_string,
}


_SIMPLE_FLAG = re.compile(r"--[!#-&(-\[\]-~]*")
_ASCII_SPACES = re.compile(r"[\t\n\v\f\r ]*")


def _extract_builder_flags(line: str) -> tuple[str, list[str]]:
    """BuildKit's ``extractBuilderFlags``: leading ``--flag[=value]`` words (byte-wise, like Go)."""
    if not line.startswith("--"):
        return line, []
    # Fast path: plain ASCII flags without quotes or escapes, separated by ASCII spaces.
    words: list[str] = []
    pos = 0
    n = len(line)
    while line.startswith("--", pos):
        match = _SIMPLE_FLAG.match(line, pos)
        assert match is not None
        end = match.end()
        word = match.group()
        if word == "--" or (end < n and line[end] not in " \t\n\v\f\r"):
            return _extract_builder_flags_slow(line)
        words.append(word)
        if end == n:
            return "", words
        pos = _ASCII_SPACES.match(line, end).end()  # type: ignore[union-attr]
    return line[pos:], words


def _extract_builder_flags_slow(line: str) -> tuple[str, list[str]]:
    data = line.encode("utf-8", "surrogateescape")
    n = len(data)
    words: list[str] = []
    word: list[str] = []
    phase = 0  # 0 spaces, 1 word, 2 quote
    quote = 0
    blank_ok = False
    pos = 0
    while pos <= n:
        ch = data[pos] if pos < n else -1
        if phase == 0:
            if pos == n:
                break
            if ch in _BYTE_SPACES:
                pos += 1
                continue
            if ch != 0x2D or pos + 1 == n or data[pos + 1] != 0x2D:
                return data[pos:].decode("utf-8", "surrogateescape"), words
            phase = 1
        if pos == n:
            text = "".join(word)
            if text != "--" and (blank_ok or word):
                words.append(text)
            break
        if phase == 1:
            if ch in _BYTE_SPACES:
                phase = 0
                text = "".join(word)
                if text == "--":
                    return data[pos:].decode("utf-8", "surrogateescape"), words
                if blank_ok or word:
                    words.append(text)
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in (0x27, 0x22):
                quote = ch
                blank_ok = True
                phase = 2
                pos += 1
                continue
            if ch == 0x5C:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = data[pos]
            word.append(chr(ch))
            pos += 1
            continue
        # phase 2: in quote
        if ch == quote:
            phase = 1
            pos += 1
            continue
        if ch == 0x5C:
            if pos + 1 == n:
                phase = 1
                pos += 1
                continue
            pos += 1
            ch = data[pos]
        word.append(chr(ch))
        pos += 1
    return "", words


def _split_command(line: str) -> tuple[str, list[str], str]:
    parts = _RE_WHITESPACE.split(line.strip(_GO_SPACE), maxsplit=1)
    cmd = parts[0]
    flags: list[str] = []
    args = ""
    if len(parts) == 2:
        args, flags = _extract_builder_flags(parts[1])
    return cmd, flags, args.strip(_GO_SPACE)


def _node_from_line(line: str, state: _State, comments: tuple[str, ...]) -> Node:
    cmd, flags, args = _split_command(line)
    fn = _DISPATCH.get(go_lower(cmd), _parse_ignore)
    nxt, is_json = fn(args, state)
    return Node(cmd, next=nxt, flags=tuple(flags), json=is_json, original=line, comments=comments)


# ---------------------------------------------------------------------------- heredocs

_HEREDOC_LINE_LEX = ShellLex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
_HEREDOC_LEX = ShellLex("\\", skip_unset_env=True)
_HEREDOC_LEX_RAW = ShellLex("\\", raw_quotes=True, skip_unset_env=True)


def parse_heredoc(word: str) -> Heredoc | None:
    """``<<EOF``, ``<<-EOF``, ``<<'EOF'``, ``3<<EOF`` as a (content-less) Heredoc, else None.

    Raises ValueError for a malformed delimiter such as ``<<'EOF``.
    """
    match = _RE_HEREDOC.match(word)
    if match is None:
        return None
    fd_text, dash, rest = match.groups()
    if not rest:
        return None
    fd = min(int(fd_text), 2**64 - 1) if fd_text else 0
    try:
        words = _HEREDOC_LEX.process_words(rest, {})
    except ShellSyntaxError as exc:
        raise ValueError(str(exc)) from None
    if len(words) != 1:
        return None
    try:
        raw_words = _HEREDOC_LEX_RAW.process_words(rest, {})
    except ShellSyntaxError as exc:
        raise ValueError(str(exc)) from None
    if len(raw_words) != len(words):
        raise ValueError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    name = words[0]
    raw = raw_words[0]
    expand = name.count("'") + name.count('"') == raw.count("'") + raw.count('"')
    return Heredoc(name=name, expand=expand, chomp=dash == "-", file_descriptor=fd)


def _heredocs_from_line(line: str) -> list[Heredoc]:
    try:
        words = _HEREDOC_LINE_LEX.process_words(line, {})
    except ShellSyntaxError:
        return []
    docs: list[Heredoc] = []
    for word in words:
        try:
            doc = parse_heredoc(word)
        except ValueError as exc:
            raise _ParseError(str(exc)) from None
        if doc is not None:
            docs.append(doc)
    return docs


def chomp_heredoc_content(content: str) -> str:
    """Remove leading tabs from every line (``<<-``)."""
    return _RE_LEADING_TABS.sub("", content)


def _can_contain_heredoc(node: Node) -> bool:
    if node.name == "onbuild" and node.next and node.next[0].children:
        node = node.next[0].children[0]
    return node.name in _HEREDOC_INSTRUCTIONS and not node.json


def _attach_sub_heredocs(node: Node, docs: tuple[Heredoc, ...]) -> Node:
    return Node(
        node.value,
        next=node.next,
        children=node.children,
        flags=node.flags,
        heredocs=docs,
        json=node.json,
        original=node.original,
        start_line=node.start_line,
        end_line=node.end_line,
        comments=node.comments,
    )


# ---------------------------------------------------------------------------- parse


def _split_lines(text: str) -> list[str]:
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def parse(text: str, *, filename: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile ``text`` into a :class:`Dockerfile`, the way BuildKit's parser does.

    Raises DockerfileError (with file, line, column and the source line) when it cannot.
    Invalid UTF-8 should be decoded with ``errors="surrogateescape"`` by the caller.
    """
    lines = _split_lines(text)
    state = _State()
    nodes: list[Node] = []
    warnings: list[str] = []
    comments: list[str] = []
    current = 0
    total = len(lines)
    index = 0

    def fail(message: str, line: int) -> DockerfileError:
        return _located_error(lines, filename, message, line)

    while index < total:
        raw = lines[index]
        index += 1
        if current == 0 and raw.startswith("\ufeff"):
            raw = raw[1:]
        token = raw.rstrip("\r\n")
        stripped = token.lstrip(_GO_SPACE)
        if stripped.startswith("#"):
            comment = raw[1:].strip(_GO_SPACE)
            if comment:
                comments.append(comment)
            else:
                comments = []
        try:
            state.possible_directive(stripped, current + 1)
        except _ParseError as exc:
            raise fail(str(exc), current + 1) from None
        processed = "" if stripped.startswith("#") else stripped
        current += 1
        start = current
        line, end_of_line = _trim_continuation(processed, state)
        if end_of_line and not line:
            continue
        has_empty = False
        while not end_of_line and index < total:
            raw_next = lines[index]
            index += 1
            token = raw_next.rstrip("\r\n")
            try:
                state.possible_directive(token, current + 1)
            except _ParseError as exc:
                raise fail(str(exc), current + 1) from None
            current += 1
            left = token.lstrip(_GO_SPACE)
            if left.startswith("#"):
                continue
            if not left:
                has_empty = True
                continue
            piece = "" if token.startswith("#") else token
            piece, end_of_line = _trim_continuation(piece, state)
            line += piece
        if has_empty:
            warnings.append("[WARNING]: Empty continuation line found in:\n    " + line)
        try:
            child = _node_from_line(line, state, tuple(comments))
        except _ParseError as exc:
            raise fail(str(exc), start) from None
        except RecursionError:
            raise fail("instruction nested too deeply", start) from None
        docs: list[Heredoc] = []
        if "<<" in line and _can_contain_heredoc(child):
            try:
                found = _heredocs_from_line(line)
            except _ParseError as exc:
                raise fail(str(exc), start) from None
            for doc in found:
                terminated = False
                content: list[str] = []
                while index < total:
                    body = lines[index]
                    index += 1
                    current += 1
                    candidate = body.rstrip("\r\n")
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    content.append(body)
                if not terminated:
                    raise _located_error(
                        lines,
                        filename,
                        "unterminated heredoc",
                        start,
                        hint=f"end it with a line containing only {doc.name}",
                    )
                docs.append(
                    Heredoc(doc.name, "".join(content), doc.expand, doc.chomp, doc.file_descriptor)
                )
        if docs and child.name == "onbuild" and child.next and child.next[0].children:
            sub = _attach_sub_heredocs(child.next[0].children[0], tuple(docs))
            arg = Node("", children=(sub,))
            child = Node(
                child.value,
                next=(arg, *child.next[1:]),
                flags=child.flags,
                json=child.json,
                original=child.original,
                comments=child.comments,
            )
        nodes.append(
            Node(
                child.value,
                next=child.next,
                children=child.children,
                flags=child.flags,
                heredocs=tuple(docs),
                json=child.json,
                original=child.original,
                start_line=start,
                end_line=current,
                comments=child.comments,
            )
        )
        comments = []

    if not nodes:
        raise _located_error(
            lines,
            filename,
            "file with no instructions",
            max(current, 1),
            hint="a Dockerfile needs at least a FROM instruction",
        )
    if warnings:
        warnings.append(
            "[WARNING]: Empty continuation lines will become errors in a future release."
        )
    return Dockerfile(
        filename=filename,
        nodes=tuple(nodes),
        directives=tuple(state.directives),
        escape_token=state.escape,
        warnings=tuple(warnings),
        source_lines=tuple(lines),
    )


def _trim_continuation(line: str, state: _State) -> tuple[str, bool]:
    if line.endswith(state.escape) or (line and line[-1] in " \t"):
        new, count = state.regex.subn(r"\1", line)
        if count:
            return new, False
    return line, True
