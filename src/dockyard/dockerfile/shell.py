"""Shell-word expansion and splitting, following BuildKit's frontend/dockerfile/shell lexer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.dockerfile.goquote import go_quote

__all__ = ["ShellLex", "ShellSyntaxError", "WordResult", "is_go_space"]

_EOF = ""

# Go's unicode.IsSpace: the Unicode White_Space property (str.isspace() differs: \x1c-\x1f).
_GO_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


def is_go_space(ch: str) -> bool:
    """Whether ``ch`` is white space by Go's ``unicode.IsSpace``."""
    return ch in _GO_SPACES


class ShellSyntaxError(ValueError):
    """A word the lexer cannot process; callers turn it into a DockerfileError."""


@dataclass(frozen=True, slots=True)
class WordResult:
    """The outcome of processing one word: the joined result and its split words."""

    result: str
    words: tuple[str, ...]
    matched: frozenset[str]
    unmatched: frozenset[str]


class _Words:
    __slots__ = ("in_word", "word", "words")

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch in _GO_SPACES:
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.word += ch
            self.in_word = True

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def get_words(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class ShellLex:
    """BuildKit's ``shell.Lex``: expands ``$VAR``/``${VAR...}`` and processes quotes.

    The instance is immutable; ``process_word`` and ``process_words`` are pure.
    """

    __slots__ = (
        "escape_token",
        "raw_escapes",
        "raw_quotes",
        "skip_process_quotes",
        "skip_unset_env",
    )

    def __init__(
        self,
        escape_token: str = "\\",  # noqa: S107
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_process_quotes: bool = False,
        skip_unset_env: bool = False,
    ) -> None:
        self.escape_token = escape_token
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """Expand one word; spaces between words are kept (``ProcessWord``)."""
        return self.process(word, env).result

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Expand, then split into words on unquoted white space (``ProcessWords``)."""
        return list(self.process(word, env).words)

    def process(self, word: str, env: Mapping[str, str]) -> WordResult:
        """Expand ``word``; raise ShellSyntaxError with BuildKit's message when it is malformed."""
        state = _ShellWord(self, word, env)
        try:
            result, words = state.process_stop_on(_EOF, self.raw_escapes)
        except ShellSyntaxError as exc:
            raise ShellSyntaxError(f"failed to process {go_quote(word)}: {exc}") from None
        return WordResult(
            result, tuple(words), frozenset(state.matches), frozenset(state.nonmatches)
        )


class _ShellWord:
    __slots__ = ("env", "lex", "matches", "nonmatches", "pos", "raw_escapes", "src")

    def __init__(self, lex: ShellLex, word: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        # text/scanner ignores a byte-order mark at the very start.
        self.src = word.removeprefix("\ufeff")
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.matches: set[str] = set()
        self.nonmatches: set[str] = set()

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else _EOF

    def next(self) -> str:
        if self.pos < len(self.src):
            ch = self.src[self.pos]
            self.pos += 1
            return ch
        return _EOF

    def process_stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            quotes = not self.lex.skip_process_quotes
            escape = self.lex.escape_token
            while self.pos < len(self.src):
                ch = self.src[self.pos]
                if stop and ch == stop:
                    self.pos += 1
                    return "".join(result), words.get_words()
                if ch == "$":
                    tmp = self.process_dollar()
                    result.append(tmp)
                    words.add_string(tmp)
                elif quotes and ch == "'":
                    tmp = self.process_single_quote()
                    result.append(tmp)
                    words.add_raw_string(tmp)
                elif quotes and ch == '"':
                    tmp = self.process_double_quote()
                    result.append(tmp)
                    words.add_raw_string(tmp)
                else:
                    self.pos += 1
                    if ch == escape:
                        if self.raw_escapes:
                            words.add_raw_char(ch)
                            result.append(ch)
                        ch = self.next()
                        if ch == _EOF:
                            break
                        words.add_raw_char(ch)
                    else:
                        words.add_char(ch)
                    result.append(ch)
            if stop:
                raise ShellSyntaxError(
                    f"unexpected end of statement while looking for matching {stop}"
                )
            return "".join(result), words.get_words()
        finally:
            self.raw_escapes = saved

    def process_single_quote(self) -> str:
        result: list[str] = []
        ch = self.next()
        if self.lex.raw_quotes:
            result.append(ch)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise ShellSyntaxError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.lex.raw_quotes:
                    result.append(ch)
                return "".join(result)
            result.append(ch)

    def process_double_quote(self) -> str:
        result: list[str] = []
        ch = self.next()
        if self.lex.raw_quotes:
            result.append(ch)
        escape = self.lex.escape_token
        while True:
            peek = self.peek()
            if peek == _EOF:
                raise ShellSyntaxError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if peek == '"':
                ch = self.next()
                if self.lex.raw_quotes:
                    result.append(ch)
                return "".join(result)
            if peek == "$":
                result.append(self.process_dollar())
                continue
            ch = self.next()
            if ch == escape:
                if self.raw_escapes:
                    result.append(ch)
                following = self.peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", escape):
                    ch = self.next()
            result.append(ch)

    def get_env(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matches.add(name)
            return self.env[name], True
        self.nonmatches.add(name)
        return "", False

    def process_name(self) -> str:
        name: list[str] = []
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if not name and ch.isdecimal():
                while self.pos < len(self.src) and self.src[self.pos].isdecimal():
                    name.append(self.src[self.pos])
                    self.pos += 1
                return "".join(name)
            if not name and ch in _SPECIAL_PARAMS:
                self.pos += 1
                return ch
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            name.append(ch)
            self.pos += 1
        return "".join(name)

    def process_dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.process_name()
            if not name:
                return "$"
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value

        self.next()
        peek = self.peek()
        if peek == _EOF:
            raise ShellSyntaxError("syntax error: missing '}'")
        if peek in "{}:":
            raise ShellSyntaxError("syntax error: bad substitution")
        name = self.process_name()
        ch = self.next()
        chs = ch if ch != _EOF else "\ufffd"
        null_is_unset = False

        if ch == "}":
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch in (":", "+", "-", "?", "#", "%") and ch != _EOF:
            if ch == ":":
                null_is_unset = True
                ch = self.next()
                chs += ch if ch != _EOF else "\ufffd"
            raw = ch in ("#", "%") and ch != _EOF
            try:
                word, _ = self.process_stop_on("}", raw)
            except ShellSyntaxError:
                if self.peek() == _EOF:
                    raise ShellSyntaxError("syntax error: missing '}'") from None
                raise
            value, found = self.get_env(name)
            if self.lex.skip_unset_env and not found:
                return "${" + name + chs + word + "}"
            if ch == "-":
                if not found or (null_is_unset and value == ""):
                    return word
                return value
            if ch == "+":
                if not found or (null_is_unset and value == ""):
                    return ""
                return word
            if ch == "?":
                if not found:
                    raise ShellSyntaxError(f"{name}: {word or 'is not allowed to be unset'}")
                if null_is_unset and value == "":
                    raise ShellSyntaxError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            if ch in ("%", "#") and ch != _EOF:
                greedy = False
                if word and word[0] == ch:
                    greedy = True
                    word = word[1:]
                if ch == "%":
                    return _trim_suffix(word, value, greedy)
                return _trim_prefix(word, value, greedy)
            raise ShellSyntaxError(f"unsupported modifier ({chs}) in substitution")
        if ch == "/":
            replace_all = self.peek() == "/"
            if replace_all:
                self.next()
            try:
                pattern, _ = self.process_stop_on("/", True)
            except ShellSyntaxError:
                if self.peek() == _EOF:
                    raise ShellSyntaxError("syntax error: missing '/' in ${}") from None
                raise
            try:
                replacement, _ = self.process_stop_on("}", True)
            except ShellSyntaxError:
                if self.peek() == _EOF:
                    raise ShellSyntaxError("syntax error: missing '}'") from None
                raise
            value, found = self.get_env(name)
            if self.lex.skip_unset_env and not found:
                return "${" + name + "/" + pattern + "/" + replacement + "}"
            regex = _pattern_to_regex(pattern, greedy=True, anchored=False)
            if replace_all:
                return _replace_all(regex, value, replacement)
            match = regex.search(value)
            if match is not None:
                value = value[: match.start()] + replacement + value[match.end() :]
            return value
        raise ShellSyntaxError(f"unsupported modifier ({chs}) in substitution")


_REGEX_SPECIALS = frozenset("[]{}.+()|^$")


def _pattern_to_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell wildcard pattern (``*``, ``?``, escapes; no brackets) as a regular expression."""
    out: list[str] = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    n = len(pattern)
    while i < n:
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
            continue
        if tok == "?":
            out.append(".")
            continue
        if tok == "\\":
            following = pattern[i] if i < n else ""
            if following in ("}", "/"):
                continue
            tok = following
            i += 1
            if tok not in ("*", "?", "\\"):
                shown = tok or "\ufffd"
                raise ShellSyntaxError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{shown}'"
                )
            out.append("\\" + tok)
            continue
        if tok in _REGEX_SPECIALS:
            out.append("\\")
        out.append(tok)
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_to_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[match.end() :] if match is not None else value


def _reverse_pattern(pattern: str) -> str:
    out = [""] * len(pattern)
    last = len(pattern) - 1
    i = 0
    while i <= last:
        tok = pattern[i]
        at = last - i
        if tok == "\\" and i != last:
            out[at - 1] = tok
            out[at] = pattern[i + 1]
            i += 2
        else:
            out[at] = tok
            i += 1
    return "".join(out)


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


_GO_TEMPLATE = re.compile(r"\$(\$|\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+))")


def _go_expand(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: ``$1``, ``${1}``, ``$name`` refer to groups; ``$$`` is a dollar."""

    def repl(m: re.Match[str]) -> str:
        if m.group(1) == "$":
            return "$"
        name = m.group(2) if m.group(2) is not None else m.group(3)
        if name is None or name == "":
            return ""
        if name.isdigit():
            index = int(name)
            if index <= (match.re.groups or 0):
                return match.group(index) or ""
            return ""
        return ""

    if "$" not in template:
        return template
    # An unparsable "$" (e.g. "${x" or "$-") stays as written, like Go.
    return _GO_TEMPLATE.sub(repl, template)


def _replace_all(regex: re.Pattern[str], value: str, template: str) -> str:
    """Go's ReplaceAllString: empty matches abutting the previous match are skipped."""
    out: list[str] = []
    last = 0
    prev_end = -1
    for match in regex.finditer(value):
        start, end = match.span()
        if start == end and start == prev_end:
            continue
        out.append(value[last:start])
        out.append(_go_expand(template, match))
        last = end
        prev_end = end
    out.append(value[last:])
    return "".join(out)
