"""The sh parser that RUN rules read: commands, pipes, quoting, and never a crash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.lint.shell import parse_shell


def names(script: str) -> list[tuple[str, tuple[str, ...]]]:
    parsed = parse_shell(script)
    assert parsed.ok, parsed.error
    return [(cmd.name, cmd.argv) for cmd in parsed.commands]


def test_and_or_lists_and_continuations() -> None:
    script = "apt-get update && apt-get install -y curl \\\n && rm -rf /var/lib/apt/lists/*"
    assert names(script) == [
        ("apt-get", ("update",)),
        ("apt-get", ("install", "-y", "curl")),
        ("rm", ("-rf", "/var/lib/apt/lists/*")),
    ]


def test_quotes_are_removed_and_expansions_simplified() -> None:
    assert names("pip install \"flask==3\" 'a b' $X ${Y} pre$(date)post") == [
        ("pip", ("install", "flask==3", "a b", "${VAR}", "${VAR}", "pre${VAR}post")),
        ("date", ()),
    ]


def test_operators_inside_quotes_are_not_operators() -> None:
    parsed = parse_shell("echo 'a | b' \"c && d\"; true")
    assert not parsed.has_pipes
    assert [c.name for c in parsed.commands] == ["echo", "true"]


def test_pipes_found_in_nested_places() -> None:
    assert parse_shell("curl x | sh").has_pipes
    assert parse_shell("echo $(ls | wc -l)").has_pipes
    assert parse_shell("for f in a b; do echo $f | cat; done").has_pipes
    assert not parse_shell("a || b").has_pipes


def test_compound_commands() -> None:
    script = (
        "set -eux; if [ -f x ]; then cd y; elif true; then :; else (cd /x && make); fi; "
        'case "$a" in amd64|x86_64) arch=x ;; *) echo no ;; esac; '
        "while read l; do echo $l; done < file; { a; b; } > /dev/null 2>&1; f() { g; }"
    )
    got = [name for name, _ in names(script)]
    assert got == [
        "set",
        "[",
        "cd",
        "true",
        ":",
        "cd",
        "make",
        "echo",
        "read",
        "echo",
        "a",
        "b",
        "g",
    ]


def test_assignments_before_command_and_busybox() -> None:
    parsed = parse_shell('A=1 B="x y" busybox wget -q url')
    (cmd,) = parsed.commands
    assert cmd.name == "wget"
    assert cmd.assignments == ("A=1", 'B="x y"')


def test_flags_like_hadolint() -> None:
    (cmd,) = parse_shell("apk add --no-cache -tv .deps=1 gcc").commands
    assert cmd.has_flag("no-cache")
    assert cmd.has_flag("t")
    assert cmd.has_flag("v")
    assert cmd.args_no_flags(drop_values_of=("t",)) == ("add", "gcc")


def test_heredoc_inside_script() -> None:
    assert [n for n, _ in names("cat <<EOF > x\nhello $x\nEOF\necho done")] == ["cat", "echo"]


def test_unparseable_is_reported_not_raised() -> None:
    for bad in ('echo "unterminated', "echo $(", "if true; then", "a && ", "echo `x", "( a"):
        parsed = parse_shell(bad)
        assert not parsed.ok
        assert parsed.commands == ()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab $|&;()'\"\\`{}<>\n#=-", max_size=40))
def test_never_crashes(script: str) -> None:
    parse_shell(script)
