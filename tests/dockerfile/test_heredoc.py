"""Heredoc forms from the Dockerfile reference, with expected trees written by hand."""

from __future__ import annotations

import pytest

from dockyard.dockerfile import (
    CopyInstruction,
    Heredoc,
    RunInstruction,
    SourceContent,
    expand_heredoc,
    from_ast,
    parse,
)
from dockyard.errors import DockerfileError

CASES = [
    (
        "RUN <<EOF\napt-get update\napt-get install -y curl\nEOF\n",
        '(run "<<EOF")\n',
        [Heredoc("EOF", "apt-get update\napt-get install -y curl\n")],
    ),
    (
        "RUN <<EOT bash\n  set -ex\n  apt-get update\nEOT\n",
        '(run "<<EOT bash")\n',
        [Heredoc("EOT", "  set -ex\n  apt-get update\n")],
    ),
    (
        'RUN python3 <<EOF\nwith open("/hello", "w") as f:\n    print("Hello", file=f)\nEOF\n',
        '(run "python3 <<EOF")\n',
        [Heredoc("EOF", 'with open("/hello", "w") as f:\n    print("Hello", file=f)\n')],
    ),
    (
        "RUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\n",
        '(run "<<FILE1 cat > file1 && <<FILE2 cat > file2")\n',
        [Heredoc("FILE1", "I am\nfirst\n"), Heredoc("FILE2", "I am\nsecond\n")],
    ),
    (
        "COPY <<EOF /app/\nhello\nEOF\n",
        '(copy "<<EOF" "/app/")\n',
        [Heredoc("EOF", "hello\n")],
    ),
    (
        "COPY <<-EOT /script.sh\n\techo hello\n\tEOT\n",
        '(copy "<<-EOT" "/script.sh")\n',
        [Heredoc("EOT", "\techo hello\n", chomp=True)],
    ),
    (
        "RUN <<'EOF'\necho $HOME\nEOF\n",
        "(run \"<<'EOF'\")\n",
        [Heredoc("EOF", "echo $HOME\n", expand=False)],
    ),
    (
        'RUN <<"EOF"\necho $HOME\nEOF\n',
        '(run "<<\\"EOF\\"")\n',
        [Heredoc("EOF", "echo $HOME\n", expand=False)],
    ),
    (
        "RUN 3<<EOF cat /dev/fd/3\nx\nEOF\n",
        '(run "3<<EOF cat /dev/fd/3")\n',
        [Heredoc("EOF", "x\n", file_descriptor=3)],
    ),
    (
        "COPY <<X <<Y /dest\nY\nX\nX\nY\n",
        '(copy "<<X" "<<Y" "/dest")\n',
        [Heredoc("X", "Y\n"), Heredoc("Y", "X\n")],
    ),
    (
        "ADD --chmod=755 <<EOF /run.sh\n#!/bin/sh\n# not a comment\nEOF\n",
        '(add ["--chmod=755"] "<<EOF" "/run.sh")\n',
        [Heredoc("EOF", "#!/bin/sh\n# not a comment\n")],
    ),
    (
        "RUN --mount=type=cache,target=/root/.cache <<EOF\npip install x\nEOF\n",
        '(run ["--mount=type=cache,target=/root/.cache"] "<<EOF")\n',
        [Heredoc("EOF", "pip install x\n")],
    ),
]


@pytest.mark.parametrize(("text", "tree", "heredocs"), CASES)
def test_heredoc_forms(text: str, tree: str, heredocs: list[Heredoc]) -> None:
    df = parse("FROM busybox\n" + text)
    assert df.dump() == '(from "busybox")\n' + tree
    node = df.nodes[1]
    assert list(node.heredocs) == heredocs
    assert node.start_line == 2
    assert node.end_line == text.count("\n") + 1


def test_json_form_has_no_heredocs() -> None:
    df = parse('FROM x\nRUN ["<<EOF"]\nRUN ["echo"]\n')
    assert all(not node.heredocs for node in df.nodes)
    assert len(df.nodes) == 3


def test_other_instructions_do_not_take_heredocs() -> None:
    df = parse("FROM x\nUSER <<INVALID\nINVALID\n")
    assert df.dump() == '(from "x")\n(user "<<INVALID")\n(invalid "")\n'


def test_quoted_word_is_not_a_heredoc() -> None:
    df = parse('FROM x\nRUN "<<EOF"\n')
    assert not df.nodes[1].heredocs


def test_unterminated_heredoc_names_the_line() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("FROM x\nRUN <<EOF\necho hi\n")
    assert info.value.line == 2
    assert "unterminated heredoc" in str(info.value)


def test_onbuild_heredoc() -> None:
    df = parse("FROM x\nONBUILD RUN <<EOF\necho hi\nEOF\n")
    assert df.dump() == '(from "x")\n(onbuild (run "<<EOF"))\n'
    assert df.nodes[1].heredocs == (Heredoc("EOF", "echo hi\n"),)


def test_typed_heredocs_and_expansion() -> None:
    df = parse(
        "FROM x\nCOPY <<-EOF <<'RAW' /dest/\n\thello $NAME\nEOF\n$NAME\nRAW\n"
        "RUN <<EOF\necho $NAME\nEOF\n"
    )
    _, stages = from_ast(df)
    copy, run = stages[0].instructions
    assert isinstance(copy, CopyInstruction)
    assert copy.sources == ()
    assert copy.contents == (
        SourceContent("EOF", "hello $NAME\n", True),
        SourceContent("RAW", "$NAME\n", False),
    )
    env = {"NAME": "world"}
    assert [expand_heredoc(c, env) for c in copy.contents] == ["hello world\n", "$NAME\n"]
    assert isinstance(run, RunInstruction)
    assert run.command == ("<<EOF",)
    assert run.heredocs[0].content == "echo $NAME\n"


def test_heredoc_as_destination_is_rejected() -> None:
    with pytest.raises(DockerfileError, match="destination"):
        from_ast(parse("FROM x\nCOPY a <<EOF\nx\nEOF\n"))
