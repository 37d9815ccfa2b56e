"""dockyard's DY rules, pragmas, configuration, fixes and output formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import ConfigError
from dockyard.lint import ContextInfo, LintConfig, Severity, apply_fixes, lint_text, load_config


def codes(text: str, **kw: object) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in lint_text(text, "Dockerfile", **kw)]  # type: ignore[arg-type]


def only(prefix: str, text: str, **kw: object) -> list[tuple[str, int]]:
    return [c for c in codes(text, **kw) if c[0] == prefix]


def test_dy001_dependency_install_after_broad_copy() -> None:
    bad = "FROM golang:1.22 AS b\nWORKDIR /s\nCOPY . .\nRUN go mod download\n"
    good = (
        "FROM golang:1.22 AS b\nWORKDIR /s\nCOPY go.mod go.sum ./\nRUN go mod download\nCOPY . .\n"
    )
    assert only("DY001", bad) == [("DY001", 4)]
    assert only("DY001", good) == []
    for install in (
        "npm ci",
        "yarn install",
        "pip install -r requirements.txt",
        "poetry install",
        "mvn dependency:go-offline",
        "gradle dependencies",
        "bundle install",
        "cargo fetch",
        "composer install",
    ):
        assert only("DY001", f"FROM x:1\nCOPY . /app\nRUN {install}\n") == [("DY001", 3)], install


def test_dy001_fix_splits_manifest_copy() -> None:
    text = 'FROM node:20-slim\nWORKDIR /app\n# sources\nCOPY --chown=node . .\nRUN npm ci\nCMD ["node", "x"]\n'
    findings = lint_text(text, "Dockerfile")
    fixed, done = apply_fixes(text, [f for f in findings if f.code == "DY001"])
    assert [f.code for f in done] == ["DY001"]
    assert fixed == (
        "FROM node:20-slim\nWORKDIR /app\n# sources\nCOPY --chown=node package*.json ./\n"
        'RUN npm ci\nCOPY --chown=node . .\nCMD ["node", "x"]\n'
    )
    assert only("DY001", fixed) == []
    pip = "FROM python:3.12-slim\nCOPY . /app/\nRUN pip install --no-cache-dir -r reqs/base.txt\n"
    fixed, _ = apply_fixes(pip, lint_text(pip))
    assert "COPY reqs/base.txt /app/\nRUN pip install" in fixed
    mvn = "FROM maven:3\nCOPY . /src\nRUN mvn -B dependency:go-offline\n"
    assert "COPY pom.xml /src/\n" in apply_fixes(mvn, lint_text(mvn))[0]


def test_dy002_toolchain_final_stage() -> None:
    assert only("DY002", "FROM golang:1.22\nRUN go build\n") == [("DY002", 1)]
    assert only("DY002", "FROM node:20 AS b\nFROM b\n") == [("DY002", 2)]
    assert only("DY002", "FROM golang:1.22 AS b\nFROM gcr.io/distroless/static\n") == []
    assert only("DY002", "FROM python:3.12-slim\n") == []


def test_dy003_fat_base() -> None:
    assert only("DY003", "FROM python:3.12\n") == [("DY003", 1)]
    assert only("DY003", "FROM python:3.12-alpine\n") == []


def test_dy004_cache_left_behind() -> None:
    assert only("DY004", "FROM fedora:40\nRUN dnf install -y gcc\n") == [("DY004", 2)]
    assert only("DY004", "FROM fedora:40\nRUN dnf install -y gcc && dnf clean all\n") == []
    assert (
        only("DY004", "FROM f:1\nRUN --mount=type=cache,target=/var/cache/dnf dnf install -y x\n")
        == []
    )


def test_dy005_secrets() -> None:
    assert only("DY005", "FROM a:1\nARG GITHUB_TOKEN\nENV DB_PASSWORD=hunter2\n") == [
        ("DY005", 2),
        ("DY005", 3),
    ]
    assert only("DY005", "FROM a:1\nENV KEY=AKIAABCDEFGHIJKLMNOP\n") == [("DY005", 2)]
    assert only("DY005", "FROM a:1\nENV PASSWORD_FILE=/run/secrets/pw TOKEN_URL=http://x\n") == []


def test_dy006_broad_copy_without_dockerignore() -> None:
    text = "FROM a:1\nCOPY . /app\n"
    heavy = ContextInfo(frozenset({".git", "node_modules", "src"}), has_dockerignore=False)
    assert only("DY006", text, context=heavy) == [("DY006", 2)]
    ignored = ContextInfo(heavy.entries, has_dockerignore=True)
    assert only("DY006", text, context=ignored) == []
    assert only("DY006", text) == []


def test_dy007_dy008() -> None:
    assert only("DY007", "FROM a:1\nRUN npm ci\n") == [("DY007", 2)]
    assert only("DY007", "FROM a:1\nRUN --mount=type=cache,target=/root/.npm npm ci\n") == []
    assert only("DY008", "FROM a:1\nADD https://x/y.tgz /y\n") == [("DY008", 2)]
    assert only("DY008", "FROM a:1\nADD --checksum=sha256:00 https://x/y.tgz /y\n") == []
    # a git repository: a branch or tag moves, a commit does not
    assert only("DY008", "FROM a:1\nADD https://h/r.git#main /src\n") == [("DY008", 2)]
    assert only("DY008", "FROM a:1\nADD git@h:r.git /src\n") == [("DY008", 2)]
    assert only("DY008", f"FROM a:1\nADD https://h/r.git#{'a' * 40} /src\n") == []


def test_dy009_dy010_stages() -> None:
    text = (
        "FROM a:1 AS unused\n"
        "FROM a:1 AS one\nCOPY --from=two /x /x\n"
        "FROM a:1 AS two\nCOPY --from=one /y /y\nRUN --mount=type=bind,from=two,target=/t true\n"
    )
    assert only("DY009", text) == [("DY009", 1)]
    assert only("DY010", text) == [("DY010", 3), ("DY010", 6)]


def test_pragmas_and_config() -> None:
    text = "# hadolint ignore=DL3006\nFROM debian\n# dockyard ignore=DY003\nFROM python:3.12\n"
    found = codes(text)
    assert ("DL3006", 2) not in found
    assert ("DY003", 4) not in found
    config = LintConfig().merged(
        {"ignored": ["DY009"], "override": {"error": ["DL3006"]}, "failure-threshold": "warning"},
        "test",
    )
    findings = lint_text("FROM debian AS x\nFROM python:3.12-slim\n", "Dockerfile", config)
    assert {f.code: f.level for f in findings}["DL3006"] is Severity.ERROR
    assert "DY009" not in {f.code for f in findings}


def test_load_config_files(tmp_path: Path) -> None:
    (tmp_path / ".hadolint.yaml").write_text(
        "ignored: [DL3008]\ntrustedRegistries: [my.registry:5000]\nfailure-threshold: error\n"
    )
    (tmp_path / "dockyard.toml").write_text(
        '[lint]\nignored = ["DY007"]\n[lint.override]\nstyle = ["DL3059"]\n'
    )
    config = load_config(tmp_path)
    assert config.ignored == {"DL3008", "DY007"}
    assert config.trusted_registries == ("my.registry:5000",)
    assert config.failure_threshold is Severity.ERROR
    assert config.overrides["DL3059"] is Severity.STYLE
    assert only("DL3026", "FROM debian:12\n", config=config) == [("DL3026", 1)]
    (tmp_path / ".hadolint.yaml").write_text("failure-threshold: loud\n")
    with pytest.raises(ConfigError):
        load_config(tmp_path)


def test_parse_error_is_a_finding() -> None:
    (finding,) = lint_text("FROM a:1\nRUN <<EOF\nunterminated\n", "Dockerfile")
    assert (finding.code, finding.line, finding.level) == ("DL1000", 2, Severity.ERROR)


def test_fixes_keep_comments_and_layout() -> None:
    text = (
        "FROM alpine:3.19\n# tools\nRUN apk add curl=8 \\\n    && apk add  --virtual .d gcc=1\n"
        "CMD python app.py   \n"
        "FROM debian:12\nRUN apt-get update \\\n  && apt-get install -y --no-install-recommends x=1\n"
    )
    fixed, done = apply_fixes(text, lint_text(text))
    assert sorted(f.code for f in done) == ["DL3009", "DL3019", "DL3025"]
    assert fixed == (
        "FROM alpine:3.19\n# tools\nRUN apk add --no-cache curl=8 \\\n"
        "    && apk add --no-cache  --virtual .d gcc=1\n"
        'CMD ["python", "app.py"]\n'
        "FROM debian:12\nRUN apt-get update \\\n  && apt-get install -y --no-install-recommends x=1 \\\n"
        "  && rm -rf /var/lib/apt/lists/*\n"
    )
    assert {f.code for f in lint_text(fixed)} & {"DL3009", "DL3019", "DL3025"} == set()


def test_cmd_with_shell_features_is_not_rewritten() -> None:
    text = "FROM a:1\nCMD echo $HOME && run\n"
    assert apply_fixes(text, lint_text(text))[0] == text
