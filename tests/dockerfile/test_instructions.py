"""Typed instructions, flags, errors with hints, and the stage planner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dockyard.cli import app
from dockyard.dockerfile import (
    AddInstruction,
    ArgInstruction,
    ArgPair,
    CopyInstruction,
    EnvInstruction,
    ExposeInstruction,
    HealthcheckInstruction,
    KeyValue,
    Mount,
    Platform,
    RunInstruction,
    arg_value,
    expand_instruction,
    expand_mount,
    from_ast,
    load,
    parse,
    parse_duration,
)
from dockyard.errors import DockerfileError, NotFoundError


def _only(text: str) -> object:
    _, stages = from_ast(parse("FROM scratch\n" + text))
    return stages[0].instructions[0]


def test_copy_flags() -> None:
    instr = _only(
        "COPY --from=build --chown=1:2 --chmod=0755 --link --parents --exclude=*.md "
        "--exclude=x a b /dst/\n"
    )
    assert isinstance(instr, CopyInstruction)
    assert instr.sources == ("a", "b")
    assert instr.dest == "/dst/"
    assert (instr.from_, instr.chown, instr.chmod) == ("build", "1:2", "0755")
    assert instr.link
    assert instr.parents
    assert instr.excludes == ("*.md", "x")
    assert instr.location.start_line == 2


def test_add_flags() -> None:
    instr = _only("ADD --keep-git-dir=true --checksum=sha256:abc --link=false http://x/y /y\n")
    assert isinstance(instr, AddInstruction)
    assert instr.keep_git_dir
    assert not instr.link
    assert instr.checksum == "sha256:abc"


def test_run_mounts_network_security() -> None:
    instr = _only(
        "RUN --mount=type=cache,target=/root/.cache,sharing=locked "
        "--mount=type=bind,from=build,source=/out,target=/in,rw "
        "--mount=type=secret,id=token --network=none --security=sandbox make\n"
    )
    assert isinstance(instr, RunInstruction)
    cache, bind, secret = instr.mounts
    assert cache == Mount(type="cache", target="/root/.cache", sharing="locked", id="/root/.cache")
    assert bind.from_ == "build"
    assert not bind.readonly
    assert bind.source == "/out"
    assert secret.target == "/run/secrets/token"
    assert instr.network == "none"
    assert instr.command == ("make",)
    assert instr.prepend_shell


def test_healthcheck() -> None:
    instr = _only("HEALTHCHECK --interval=5s --timeout=1m30s --retries=3 CMD curl -f x\n")
    assert isinstance(instr, HealthcheckInstruction)
    assert instr.test == ("CMD-SHELL", "curl -f x")
    assert instr.interval == 5_000_000_000
    assert instr.timeout == 90_000_000_000
    assert instr.retries == 3
    none = _only("HEALTHCHECK NONE\n")
    assert isinstance(none, HealthcheckInstruction)
    assert none.test == ("NONE",)


def test_parse_duration() -> None:
    assert parse_duration("1.5h") == 5_400_000_000_000
    assert parse_duration("0") == 0
    assert parse_duration("10ms") == 10_000_000
    with pytest.raises(ValueError):
        parse_duration("5")


@pytest.mark.parametrize(
    ("text", "message", "hint", "line"),
    [
        ("FROM x\nRUN a\nRUNN hi\n", "unknown instruction: RUNN", "did you mean RUN?", 3),
        ("FROM x\nCOPY --form=a b c\n", "unknown flag: form", "did you mean --from?", 2),
        ("FROM x\nCOPY --chown a b\n", "missing a value on flag: chown", None, 2),
        ("FROM x\nFROM a b\n", "FROM requires either one or three arguments", None, 2),
        ("FROM x\nCOPY a\n", "COPY requires at least two arguments", None, 2),
        ("FROM x AS 1bad\n", "invalid name for build stage", None, 1),
        ("RUN x\n", "no build stage in current context", None, 1),
        ("FROM x\nSHELL /bin/sh\n", "SHELL requires the arguments to be in JSON form", None, 2),
        ("FROM x\nRUN --mount=type=nope,target=/x y\n", "unsupported mount type", None, 2),
        ("FROM x\nHEALTHCHECK --interval=1ns CMD x\n", "cannot be less than 1ms", None, 2),
        ("FROM x\nONBUILD FROM y\n", "FROM isn't allowed as an ONBUILD trigger", None, 2),
        ("FROM x\nEXPOSE --bogus 80\n", "unknown flag: bogus", None, 2),
    ],
)
def test_errors_name_the_line(text: str, message: str, hint: str | None, line: int) -> None:
    with pytest.raises(DockerfileError) as info:
        from_ast(parse(text))
    err = info.value
    assert message in err.message
    assert err.line == line
    assert err.source_line == text.splitlines()[line - 1]
    if hint:
        assert err.hint is not None
        assert hint in err.hint
    assert "^" in err.render()


def test_cli_unknown_instruction_has_caret_and_exit_2() -> None:
    text = b"FROM x\n\n\n\n\nRUN a\n  ECHO hello\n"
    result = CliRunner().invoke(app, ["dockerfile", "stages", "-"], input=text)
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0].startswith("error: Dockerfile:7: unknown instruction: ECHO")
    assert lines[1] == "      ECHO hello"
    assert lines[2] == "      ^"


def test_expansion_rules() -> None:
    env = {"A": "1", "P": "80 443", "DIR": "/srv"}
    _, stages = from_ast(
        parse(
            'FROM x\nENV X=$A Y="a b" Z=${A}\nEXPOSE $P\nCOPY --chown=$A --from=$A $DIR /$A/\n'
            "RUN echo $A\nARG B=${A}x\n"
        )
    )
    env_i, expose, copy, run, arg = (expand_instruction(i, env) for i in stages[0].instructions)
    assert isinstance(env_i, EnvInstruction)
    assert env_i.pairs == (KeyValue("X", "1"), KeyValue("Y", "a b"), KeyValue("Z", "1"))
    assert isinstance(expose, ExposeInstruction)
    assert expose.ports == ("80", "443")
    assert isinstance(copy, CopyInstruction)
    assert (copy.chown, copy.from_, copy.sources, copy.dest) == ("1", "$A", ("/srv",), "/1/")
    assert isinstance(run, RunInstruction)
    assert run.command == ("echo $A",)
    assert isinstance(arg, ArgInstruction)
    assert arg.pairs == (ArgPair("B", "1x"),)
    mount = expand_mount(Mount(type="cache", target="$DIR/c", from_="$A"), env)
    assert mount.target == "/srv/c"
    assert mount.from_ == "$A"


def test_env_old_form_is_one_pair() -> None:
    instr = _only("ENV PATH /a:$PATH x\n")
    assert isinstance(instr, EnvInstruction)
    assert instr.pairs == (KeyValue("PATH", "/a:$PATH x"),)


DOCKERFILE = """\
ARG BASE=alpine
ARG VERSION
FROM ${BASE}:${VERSION:-3.19} AS base
FROM --platform=$BUILDPLATFORM golang AS build
ARG TARGETARCH
RUN --mount=type=bind,from=base,target=/b go build
FROM base AS unused
FROM scratch AS final
COPY --from=build /out /out
COPY --from=busybox:1 /bin/sh /sh
COPY --from=0 /etc /etc
"""


def test_load_plans_stages() -> None:
    plan = load(
        DOCKERFILE,
        build_args={"VERSION": "3.20", "OTHER": "1"},
        platform=Platform("linux", "arm64", "v8"),
    )
    names = [s.name for s in plan.stages]
    assert names == ["base", "build", "unused", "final"]
    base, build, unused, final = plan.stages
    assert base.base_image == "alpine:3.20"
    assert build.platform == "linux/arm64/v8"
    assert build.deps == {0}
    assert unused.base_stage == 0
    assert unused.base_image is None
    assert final.deps == {0, 1}
    assert final.images == ("busybox:1",)
    assert plan.target == 3
    assert plan.reachable == (0, 1, 3)
    assert plan.unused_build_args == ("OTHER",)
    assert plan.global_args["TARGETARCH"] == "arm64"
    assert (
        arg_value(ArgPair("TARGETARCH", None), build_args={}, global_args=plan.global_args)
        == "arm64"
    )
    default = load(DOCKERFILE)
    assert default.stages[0].base_image == "alpine:3.19"


def test_load_target_and_errors() -> None:
    plan = load(DOCKERFILE, target="BUILD")
    assert plan.reachable == (0, 1)
    with pytest.raises(NotFoundError, match="could not be found"):
        load(DOCKERFILE, target="buid")
    with pytest.raises(DockerfileError, match="not supported for --from"):
        load("FROM x\nARG S\nCOPY --from=$S a b\n")
    with pytest.raises(DockerfileError, match="should not be blank"):
        load("ARG B\nFROM $B\n")
    with pytest.raises(DockerfileError, match="circular"):
        load("FROM x AS a\nCOPY --from=b a b\nFROM x AS b\nCOPY --from=a a b\n")


def test_cli_stages_json() -> None:
    result = CliRunner().invoke(
        app,
        [
            "dockerfile",
            "stages",
            "-",
            "--build-arg",
            "VERSION=1",
            "--target",
            "build",
            "--format",
            "json",
        ],
        input=DOCKERFILE.encode(),
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["target"] == 1
    assert doc["build_order"] == [0, 1]
    assert [s["reachable"] for s in doc["stages"]] == [True, True, False, False]
    assert doc["stages"][1]["depends_on"] == [0]


def test_cli_stages_text() -> None:
    result = CliRunner().invoke(app, ["dockerfile", "stages", "-"], input=DOCKERFILE.encode())
    assert result.exit_code == 0, result.output
    assert "stage 3 final: FROM scratch" in result.stdout
    assert "[unreachable]" in result.stdout
    assert "build order: base -> build -> final" in result.stdout
