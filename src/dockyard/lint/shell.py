"""A POSIX sh parser for RUN commands: words, pipelines, lists, groups; commands with offsets."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Command",
    "ParsedShell",
    "ShellParseError",
    "Word",
    "parse_shell",
]

_OPERATOR_CHARS = frozenset(";&|()<>\n")
_BLANKS = frozenset(" \t\r")
_RESERVED_STARTS = frozenset(("if", "then", "else", "elif", "do", "while", "until", "!", "{"))
_RESERVED_ENDS = frozenset(("fi", "done", "esac", "}"))
_VAR = "${VAR}"


class ShellParseError(ValueError):
    """The script is not valid sh as far as this parser can tell; rules skip it."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at offset {offset}")
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Word:
    """One shell word: its simplified value (quotes removed, expansions as ``${VAR}``)."""

    value: str
    raw: str
    start: int
    end: int
    literal: bool  # no expansion of any kind inside: the value is what the command sees


@dataclass(frozen=True, slots=True)
class Command:
    """A simple command: its name, its arguments (without the name) and where it starts.

    ``flags`` follows hadolint: ``--name=value`` gives ``name``; ``-abc`` gives ``a``,
    ``b``, ``c``; each flag remembers the index of the argument it came from.
    """

    name: str
    args: tuple[Word, ...]
    assignments: tuple[str, ...]
    start: int
    end: int
    name_word: Word
    flags: tuple[tuple[str, int], ...] = field(default=())

    @property
    def argv(self) -> tuple[str, ...]:
        """The argument values (without the command name)."""
        return tuple(word.value for word in self.args)

    def has_args(self, name: str, *values: str) -> bool:
        """hadolint's ``cmdHasArgs``: this command is ``name`` and some argument is a value."""
        return self.name == name and any(word.value in values for word in self.args)

    def has_flag(self, *names: str) -> bool:
        return any(flag in names for flag, _ in self.flags)

    def has_arg(self, value: str) -> bool:
        return any(word.value == value for word in self.args)

    def flag_indices(self) -> frozenset[int]:
        return frozenset(index for _, index in self.flags)

    def args_no_flags(self, *, drop_values_of: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Arguments that are not flags; with the argument following each flag in ``drop_values_of``."""
        flagged = self.flag_indices()
        dropped: set[int] = set()
        for flag, index in self.flags:
            if flag in drop_values_of:
                dropped.add(index + 1)
        return tuple(
            word.value
            for index, word in enumerate(self.args)
            if index not in flagged and index not in dropped
        )

    @property
    def basename(self) -> str:
        return self.name.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class ParsedShell:
    """A parsed script: every simple command (nested ones too, in source order) and pipes."""

    source: str
    commands: tuple[Command, ...]
    pipelines: tuple[tuple[Command, ...], ...]
    ok: bool = True
    error: str | None = None

    @property
    def has_pipes(self) -> bool:
        return bool(self.pipelines)

    def using(self, program: str) -> bool:
        return any(cmd.name == program for cmd in self.commands)


def _flags_of(args: tuple[Word, ...]) -> tuple[tuple[str, int], ...]:
    out: list[tuple[str, int]] = []
    for index, word in enumerate(args):
        text = word.value
        if text in ("-", "--"):
            continue
        if text.startswith("--"):
            out.append((text[2:].split("=", 1)[0], index))
        elif text.startswith("-"):
            out.extend((ch, index) for ch in text[1:])
    return tuple(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.n = len(text)
        self.commands: list[Command] = []
        self.pipelines: list[tuple[Command, ...]] = []
        self.pending_heredocs: list[tuple[str, bool]] = []
        self.depth = 0

    # ----------------------------------------------------------------- lexing helpers
    def peek(self, k: int = 0) -> str:
        p = self.pos + k
        return self.text[p] if p < self.n else ""

    def skip_blanks(self) -> None:
        text, n = self.text, self.n
        while self.pos < n:
            ch = text[self.pos]
            if ch in _BLANKS:
                self.pos += 1
            elif ch == "\\" and self.pos + 1 < n and text[self.pos + 1] == "\n":
                self.pos += 2
            elif ch == "#":
                while self.pos < n and text[self.pos] != "\n":
                    self.pos += 1
            else:
                break

    def skip_newlines(self) -> None:
        while True:
            self.skip_blanks()
            if self.peek() == "\n":
                self.pos += 1
                self._read_pending_heredocs()
            else:
                return

    def _read_pending_heredocs(self) -> None:
        while self.pending_heredocs:
            delim, strip_tabs = self.pending_heredocs.pop(0)
            while self.pos < self.n:
                end = self.text.find("\n", self.pos)
                line = self.text[self.pos : end if end >= 0 else self.n]
                self.pos = end + 1 if end >= 0 else self.n
                if (line.lstrip("\t") if strip_tabs else line) == delim:
                    break

    def at_operator(self, op: str) -> bool:
        return self.text.startswith(op, self.pos)

    # ----------------------------------------------------------------- grammar
    def parse_list(self, terminators: frozenset[str]) -> None:
        """Parse and-or lists separated by ; & newline until a terminator word or char."""
        while True:
            self.skip_newlines()
            if self.pos >= self.n:
                return
            if self._at_terminator(terminators):
                return
            self.parse_and_or(terminators)
            self.skip_blanks()
            if self.at_operator(";;"):
                return
            ch = self.peek()
            if ch in (";", "&") and not self.at_operator("&&"):
                self.pos += 1
                continue
            if ch == "\n":
                continue
            if self.pos >= self.n or self._at_terminator(terminators):
                return
            raise ShellParseError(f"unexpected {ch!r}", self.pos)

    def _at_terminator(self, terminators: frozenset[str]) -> bool:
        ch = self.peek()
        if ch == ")" and ")" in terminators:
            return True
        if self.at_operator(";;") and ";;" in terminators:
            return True
        word = self._peek_bare_word()
        return word is not None and word in terminators

    def _peek_bare_word(self) -> str | None:
        start = self.pos
        end = start
        text = self.text
        while end < self.n and text[end] not in _OPERATOR_CHARS and text[end] not in _BLANKS:
            if text[end] in "'\"\\$`":
                return None
            end += 1
        if end == start:
            return None
        return text[start:end]

    def parse_and_or(self, terminators: frozenset[str]) -> None:
        self.parse_pipeline(terminators)
        while True:
            self.skip_blanks()
            if self.at_operator("&&") or self.at_operator("||"):
                self.pos += 2
                self.skip_newlines()
                if self.pos >= self.n:
                    raise ShellParseError("missing command after && or ||", self.pos)
                self.parse_pipeline(terminators)
            else:
                return

    def parse_pipeline(self, terminators: frozenset[str]) -> None:
        self.skip_blanks()
        if self.peek() == "!" and self.peek(1) in (" ", "\t"):
            self.pos += 1
            self.skip_blanks()
        members: list[Command] = []
        piped = False
        first = self.parse_command(terminators)
        if first is not None:
            members.append(first)
        while True:
            self.skip_blanks()
            if self.peek() == "|" and self.peek(1) != "|":
                self.pos += 1
                if self.peek() == "&":
                    self.pos += 1
                piped = True
                self.skip_newlines()
                if self.pos >= self.n:
                    raise ShellParseError("missing command after |", self.pos)
                cmd = self.parse_command(terminators)
                if cmd is not None:
                    members.append(cmd)
            else:
                break
        if piped:
            self.pipelines.append(tuple(members))

    def parse_command(self, terminators: frozenset[str]) -> Command | None:
        """One command; returns the simple command if it is one (for pipeline membership)."""
        self.skip_blanks()
        ch = self.peek()
        if ch == "(":
            if self.peek(1) == "(":
                self._skip_arith()
            else:
                self.pos += 1
                self.parse_list(frozenset({")"}))
                self.expect(")")
            self._redirects_after_compound()
            return None
        word = self._peek_bare_word()
        if word == "{":
            self.pos += 1
            self.parse_list(frozenset({"}"}))
            self.expect_word("}")
            self._redirects_after_compound()
            return None
        if word in ("if", "while", "until"):
            self.pos += len(word)
            self._compound_keywords(word)
            return None
        if word == "for":
            self.pos += 3
            self._for_loop()
            return None
        if word == "case":
            self.pos += 4
            self._case()
            return None
        if word is not None and word in terminators:
            return None
        return self.parse_simple(terminators)

    def _redirects_after_compound(self) -> None:
        while True:
            self.skip_blanks()
            if not self._try_redirect():
                return

    def expect(self, ch: str) -> None:
        self.skip_newlines()
        if self.peek() != ch:
            raise ShellParseError(f"expected {ch!r}", self.pos)
        self.pos += 1

    def expect_word(self, word: str) -> None:
        self.skip_newlines()
        if self._peek_bare_word() != word:
            raise ShellParseError(f"expected {word!r}", self.pos)
        self.pos += len(word)

    def _compound_keywords(self, keyword: str) -> None:
        if keyword == "if":
            self.parse_list(frozenset({"then"}))
            self.expect_word("then")
            while True:
                self.parse_list(frozenset({"elif", "else", "fi"}))
                self.skip_newlines()
                word = self._peek_bare_word()
                if word == "elif":
                    self.pos += 4
                    self.parse_list(frozenset({"then"}))
                    self.expect_word("then")
                    continue
                if word == "else":
                    self.pos += 4
                    self.parse_list(frozenset({"fi"}))
                self.expect_word("fi")
                break
        else:
            self.parse_list(frozenset({"do"}))
            self._do_group()
        self._redirects_after_compound()

    def _do_group(self) -> None:
        self.expect_word("do")
        self.parse_list(frozenset({"done"}))
        self.expect_word("done")

    def _for_loop(self) -> None:
        self.skip_blanks()
        if self.at_operator("(("):
            self._skip_arith()
        else:
            self.read_word()  # the variable name
            self.skip_newlines()
            if self._peek_bare_word() == "in":
                self.pos += 2
                while True:
                    self.skip_blanks()
                    ch = self.peek()
                    if ch in (";", "\n", ""):
                        break
                    self.read_word()
        self.skip_blanks()
        if self.peek() == ";":
            self.pos += 1
        self.skip_newlines()
        self._do_group()
        self._redirects_after_compound()

    def _case(self) -> None:
        self.skip_blanks()
        self.read_word()
        self.skip_newlines()
        self.expect_word("in")
        while True:
            self.skip_newlines()
            if self._peek_bare_word() == "esac":
                self.pos += 4
                break
            if self.pos >= self.n:
                raise ShellParseError("unterminated case", self.pos)
            if self.peek() == "(":
                self.pos += 1
            # patterns up to ')'
            while True:
                self.skip_blanks()
                if self.peek() == ")":
                    self.pos += 1
                    break
                if self.peek() == "|":
                    self.pos += 1
                    continue
                if self.pos >= self.n:
                    raise ShellParseError("unterminated case pattern", self.pos)
                self.read_word()
            self.parse_list(frozenset({";;", "esac"}))
            self.skip_blanks()
            if self.at_operator(";;"):
                self.pos += 2
        self._redirects_after_compound()

    def _skip_arith(self) -> None:
        depth = 0
        while self.pos < self.n:
            ch = self.text[self.pos]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    self.pos += 1
                    return
            self.pos += 1
        raise ShellParseError("unterminated arithmetic", self.pos)

    def _try_redirect(self) -> bool:
        start = self.pos
        text = self.text
        p = self.pos
        while p < self.n and text[p].isdigit():
            p += 1
        if p < self.n and text[p] == "{":  # {fd}>file
            close = text.find("}", p)
            if close > 0 and close + 1 < self.n and text[close + 1] in "<>":
                p = close + 1
        if p >= self.n or text[p] not in "<>":
            self.pos = start
            return False
        for op in ("<<-", "<<<", "<<", ">>", ">&", "<&", "<>", ">|", "&>", "<", ">"):
            if text.startswith(op, p):
                p += len(op)
                break
        self.pos = p
        self.skip_blanks()
        if op in ("<<", "<<-"):
            word = self.read_word()
            if word is None:
                raise ShellParseError("missing here-document delimiter", self.pos)
            delim = word.raw.replace("'", "").replace('"', "").replace("\\", "")
            self.pending_heredocs.append((delim, op == "<<-"))
            return True
        if self.read_word() is None:
            raise ShellParseError("missing redirection target", self.pos)
        return True

    def parse_simple(self, terminators: frozenset[str]) -> Command | None:
        assignments: list[str] = []
        words: list[Word] = []
        start = self.pos
        while True:
            self.skip_blanks()
            if self.pos >= self.n:
                break
            ch = self.peek()
            if ch == "&" and self.peek(1) == ">":
                self._try_redirect_amp()
                continue
            redirect = ch in "<>" or (ch.isdigit() and self._looks_like_fd_redirect())
            if redirect and self._try_redirect():
                continue
            if ch in _OPERATOR_CHARS:
                if ch == "(" and words and self.peek(1) == ")":
                    # a function definition: name() body
                    self.pos += 2
                    self.skip_newlines()
                    self.parse_command(terminators)
                    return None
                break
            if not words and not assignments:
                bare = self._peek_bare_word()
                if bare is not None and bare in _RESERVED_ENDS | {"then", "do", "else", "elif"}:
                    if bare in terminators:
                        break
                    raise ShellParseError(f"unexpected {bare!r}", self.pos)
            word = self.read_word()
            if word is None:
                break
            if not words and _is_assignment(word.raw):
                assignments.append(word.raw)
                continue
            words.append(word)
        if not words:
            if not assignments and self.pos == start:
                ch = self.peek()
                if ch and ch not in "\n;&":
                    raise ShellParseError(f"unexpected {ch!r}", self.pos)
            return None
        name_word = words[0]
        args = tuple(words[1:])
        cmd = Command(
            name=_effective_name(name_word, args),
            args=args,
            assignments=tuple(assignments),
            start=name_word.start,
            end=words[-1].end,
            name_word=name_word,
            flags=_flags_of(args),
        )
        self.commands.append(cmd)
        return cmd

    def _looks_like_fd_redirect(self) -> bool:
        p = self.pos
        while p < self.n and self.text[p].isdigit():
            p += 1
        return p < self.n and self.text[p] in "<>"

    def _try_redirect_amp(self) -> None:
        self.pos += 2
        if self.peek() == ">":
            self.pos += 1
        self.skip_blanks()
        if self.read_word() is None:
            raise ShellParseError("missing redirection target", self.pos)

    # ----------------------------------------------------------------- words
    def read_word(self) -> Word | None:
        """Read one word at the current position; None when at an operator or the end."""
        text, n = self.text, self.n
        start = self.pos
        value: list[str] = []
        literal = True
        while self.pos < n:
            ch = text[self.pos]
            if ch in _BLANKS or ch in _OPERATOR_CHARS:
                break
            if ch == "\\":
                if self.pos + 1 < n:
                    nxt = text[self.pos + 1]
                    if nxt != "\n":
                        value.append(nxt)
                    self.pos += 2
                else:
                    self.pos += 1
                continue
            if ch == "'":
                close = text.find("'", self.pos + 1)
                if close < 0:
                    raise ShellParseError("unterminated single quote", self.pos)
                value.append(text[self.pos + 1 : close])
                self.pos = close + 1
                continue
            if ch == '"':
                self.pos += 1
                if not self._read_double_quoted(value):
                    literal = False
                continue
            if ch == "$":
                if self.peek(1) == "'":
                    value.append(self._read_dollar_single())
                    continue
                if self._read_dollar():
                    value.append(_VAR)
                    literal = False
                else:
                    value.append("$")
                continue
            if ch == "`":
                self._read_backtick()
                value.append(_VAR)
                literal = False
                continue
            value.append(ch)
            self.pos += 1
        if self.pos == start:
            return None
        return Word("".join(value), text[start : self.pos], start, self.pos, literal)

    def _read_dollar_single(self) -> str:
        self.pos += 2
        out: list[str] = []
        while self.pos < self.n:
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < self.n:
                out.append(self.text[self.pos : self.pos + 2])
                self.pos += 2
                continue
            if ch == "'":
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise ShellParseError("unterminated $'...'", self.pos)

    def _read_double_quoted(self, value: list[str]) -> bool:
        """Read after the opening quote; return whether the content is literal."""
        literal = True
        text, n = self.text, self.n
        while self.pos < n:
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return literal
            if ch == "\\" and self.pos + 1 < n:
                nxt = text[self.pos + 1]
                if nxt in '$`"\\':
                    value.append(nxt)
                elif nxt != "\n":
                    value.append(ch + nxt)
                self.pos += 2
                continue
            if ch == "$":
                if self._read_dollar():
                    value.append(_VAR)
                    literal = False
                else:
                    value.append("$")
                continue
            if ch == "`":
                self._read_backtick()
                value.append(_VAR)
                literal = False
                continue
            value.append(ch)
            self.pos += 1
        raise ShellParseError("unterminated double quote", self.pos)

    def _read_dollar(self) -> bool:
        """At ``$``: consume an expansion and return True, or consume ``$`` alone, False."""
        text = self.text
        nxt = self.peek(1)
        if nxt == "(":
            if self.peek(2) == "(":
                self.pos += 1
                self._skip_arith()
                return True
            self.pos += 2
            self._nested_script(")")
            return True
        if nxt == "{":
            depth = 0
            p = self.pos + 1
            while p < self.n:
                c = text[p]
                if c == "\\":
                    p += 2
                    continue
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        self.pos = p + 1
                        return True
                p += 1
            raise ShellParseError("unterminated ${", self.pos)
        if nxt and (nxt.isalnum() or nxt == "_"):
            p = self.pos + 1
            if nxt.isdigit():
                self.pos = p + 1
                return True
            while p < self.n and (text[p].isalnum() or text[p] == "_"):
                p += 1
            self.pos = p
            return True
        if nxt and nxt in "@*#?-$!":
            self.pos += 2
            return True
        self.pos += 1
        return False

    def _nested_script(self, closer: str) -> None:
        """Parse a command substitution body in place; its commands count as present."""
        self.depth += 1
        if self.depth > 50:
            raise ShellParseError("nesting too deep", self.pos)
        self.parse_list(frozenset({closer}))
        self.skip_newlines()
        if self.peek() != closer:
            raise ShellParseError("unterminated command substitution", self.pos)
        self.pos += 1
        self.depth -= 1

    def _read_backtick(self) -> None:
        start = self.pos + 1
        p = start
        while p < self.n:
            c = self.text[p]
            if c == "\\":
                p += 2
                continue
            if c == "`":
                inner = self.text[start:p].replace("\\`", "`")
                sub = _Parser(inner)
                sub.depth = self.depth + 1
                sub.parse_list(frozenset())
                offset = start
                self.commands.extend(_shift(cmd, offset) for cmd in sub.commands)
                self.pipelines.extend(
                    tuple(_shift(c2, offset) for c2 in pipe) for pipe in sub.pipelines
                )
                self.pos = p + 1
                return
            p += 1
        raise ShellParseError("unterminated backtick", self.pos)


def _shift(cmd: Command, offset: int) -> Command:
    return Command(
        name=cmd.name,
        args=cmd.args,
        assignments=cmd.assignments,
        start=cmd.start + offset,
        end=cmd.end + offset,
        name_word=cmd.name_word,
        flags=cmd.flags,
    )


def _is_assignment(raw: str) -> bool:
    eq = raw.find("=")
    if eq <= 0:
        return False
    name = raw[:eq].removesuffix("+")
    return name.replace("_", "a").isalnum() and not name[0].isdigit()


def _effective_name(name: Word, args: tuple[Word, ...]) -> str:
    """ShellCheck's command name: the literal first word; ``busybox x`` and friends give ``x``."""
    if name.value in ("busybox", "builtin", "command", "exec") and args:
        first = args[0]
        if not first.value.startswith("-"):
            return first.value
    return name.value


def parse_shell(script: str) -> ParsedShell:
    """Parse ``script``; never raises: an unparseable script has ``ok=False`` and no commands."""
    parser = _Parser(script)
    try:
        parser.parse_list(frozenset())
        if parser.pos < parser.n:
            raise ShellParseError(f"unexpected {parser.peek()!r}", parser.pos)
    except ShellParseError as exc:
        return ParsedShell(script, (), (), ok=False, error=str(exc))
    except RecursionError:
        return ParsedShell(script, (), (), ok=False, error="nesting too deep")
    commands = sorted(parser.commands, key=lambda cmd: cmd.start)
    return ParsedShell(script, tuple(commands), tuple(parser.pipelines))
