"""BuildKit's parser test files, shell lexer tables and a corpus of real Dockerfiles."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dockyard.cli import app
from dockyard.dockerfile import ShellLex, ShellSyntaxError, load, parse
from tests.conftest import SHARED

PARSER = SHARED / "conformance" / "dockerfile-parser"
SHELL = SHARED / "conformance" / "shell"
CORPUS = SHARED / "corpus" / "dockerfiles"


def _dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


def _corpus() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p for p in CORPUS.rglob("Dockerfile*") if p.is_file() and not p.name.endswith(".template")
    )


@pytest.mark.parametrize("case", _dirs(PARSER / "cases"), ids=lambda p: p.name)
def test_parser_case_matches_result(conformance_dir: Path, case: Path) -> None:
    text = (case / "Dockerfile").read_bytes().decode("utf-8", "surrogateescape")
    assert parse(text).dump() == (case / "result").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", _dirs(PARSER / "cases"), ids=lambda p: p.name)
def test_ast_command_prints_result_byte_for_byte(conformance_dir: Path, case: Path) -> None:
    result = CliRunner().invoke(app, ["dockerfile", "ast", str(case / "Dockerfile")])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == (case / "result").read_bytes()


@pytest.mark.parametrize("case", _dirs(PARSER / "negative"), ids=lambda p: p.name)
def test_negative_case_is_rejected_with_its_line(conformance_dir: Path, case: Path) -> None:
    data = (case / "Dockerfile").read_bytes()
    result = CliRunner().invoke(app, ["dockerfile", "ast", "-"], input=data)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("error: Dockerfile:")
    line = result.output.split(":")[2]
    assert line.isdigit(), result.output


def test_there_are_cases(conformance_dir: Path) -> None:
    assert len(_dirs(PARSER / "cases")) >= 20
    assert len(_dirs(PARSER / "negative")) >= 4


def _env_var_rows() -> list[tuple[str, str]]:
    rows = []
    path = SHELL / "envVarTest"
    if not path.is_file():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tag, source, expected = line.split("|", 2)
        if tag.strip() in ("A", "U"):
            rows.append((source.strip(), expected.strip()))
    return rows


ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


@pytest.mark.parametrize(("source", "expected"), _env_var_rows())
def test_env_var_table(conformance_dir: Path, source: str, expected: str) -> None:
    lex = ShellLex("\\")
    if expected == "error":
        with pytest.raises(ShellSyntaxError):
            lex.process_word(source, ENV)
    else:
        assert lex.process_word(source, ENV) == expected


def _words_rows() -> list[tuple[dict[str, str], str, str]]:
    rows = []
    path = SHELL / "wordsTest"
    if not path.is_file():
        return rows
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("ENV "):
            key, value = line[4:].split("=", 1)
            env[key] = value
            continue
        source, expected = line.split("|", 1)
        rows.append((dict(env), source.lstrip(), expected.lstrip()))
    return rows


@pytest.mark.parametrize(("env", "source", "expected"), _words_rows())
def test_words_table(
    conformance_dir: Path, env: dict[str, str], source: str, expected: str
) -> None:
    lex = ShellLex("\\")
    if expected == "error":
        with pytest.raises(ShellSyntaxError):
            lex.process_words(source, env)
    else:
        assert ",".join(lex.process_words(source, env)) == expected


def test_tables_are_not_empty(conformance_dir: Path) -> None:
    assert len(_env_var_rows()) > 200
    assert len(_words_rows()) > 20


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_dockerfile_loads(shared_dir: Path, path: Path) -> None:
    plan = load(path.read_text(encoding="utf-8"), filename=str(path))
    assert plan.stages
    assert plan.target in plan.reachable
