"""Build records: an unchanged build is answered from its record; any changed input is built.

These run the real ``dockyard`` entry point in a subprocess (the replay path runs before
click loads, so CliRunner would not see it), with the busybox image in the test's store.
A record is written only when nothing in the context changed in the last two seconds
(see ``dockyard.build.replay``), so the contexts are written first and left to settle once.
"""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.build import replay
from dockyard.cli import _replay
from dockyard.cli._replay import parse_args
from tests.build_engine.test_build import http_server

pytestmark = pytest.mark.runc

__all__ = ["http_server"]

BASE = "dybase:1"
DOCKERFILE = f"""FROM {BASE} AS build
WORKDIR /src
COPY deps.txt ./
RUN cat deps.txt > /deps.out
COPY . .
ARG FLAVOUR=plain
RUN echo "$FLAVOUR" > /flavour && cat main.txt > /main.out
FROM {BASE}
ENV APP=shop
COPY --from=build /deps.out /main.out /flavour /srv/
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


def _run(home: Path) -> Run:
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockyard", *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "DOCKYARD_HOME": str(home), **(env or {})},
        )

    return run


@pytest.fixture
def dy(dockyard_home: Path, busybox_oci: Path) -> Run:
    """``dockyard`` in a subprocess, with busybox in the store as dybase:1."""
    run = _run(dockyard_home)
    copied = run("copy", "--progress", "quiet", f"oci:{busybox_oci}:1", BASE)
    assert copied.returncode == 0, copied.stderr
    return run


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Contexts written before the module's tests and left alone for longer than the racy window."""
    root = tmp_path_factory.mktemp("settled")
    names = [
        "noop",
        "content",
        "added",
        "ignored",
        "dockerfile",
        "args",
        "base",
        "tags",
        "blobs",
        "flags",
        "corrupt",
        "self",
        "url",
        "spellings",
        "prune",
        "two",
    ]
    for name in names:
        ctx = root / name
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        (ctx / "deps.txt").write_text("deps v1\n")
        (ctx / "main.txt").write_text("main v1\n")
        (ctx / "notes.md").write_text("ignored\n")
        (ctx / ".dockerignore").write_text("notes.md\n")
    time.sleep(replay.RACY_WINDOW_NS / 1e9 + 0.2)
    return lambda name: root / name


def build(dy: Run, ctx: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = dy(
        "build",
        "--network",
        "none",
        "--progress",
        "plain",
        "--format",
        "json",
        *args,
        str(ctx),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    meta: dict[str, object] = json.loads(result.stdout)
    meta["stderr"] = result.stderr
    return meta


def replayed(meta: dict[str, object]) -> bool:
    cache = meta["dockyard.cache"]
    assert isinstance(cache, dict)
    return bool(cache.get("replayed"))


def test_an_unchanged_build_is_answered_from_its_record(
    dy: Run, settled: Callable[[str], Path], tmp_path: Path
) -> None:
    ctx = settled("noop")
    first = build(dy, ctx, "-t", "shop:dev")
    assert not replayed(first)
    iid = tmp_path / "iid"
    second = build(dy, ctx, "-t", "shop:dev", "--iidfile", str(iid))
    assert replayed(second)
    assert second["containerimage.digest"] == first["containerimage.digest"]
    assert iid.read_text() == first["containerimage.config.digest"]
    cache = second["dockyard.cache"]
    assert isinstance(cache, dict)
    assert cache["misses"] == 0
    assert cache["hits"] == len(cache["steps"]) == 6
    assert all(step["cached"] for step in cache["steps"])
    assert "nothing to run" in str(second["stderr"])
    assert "#2 [build 2/6] COPY deps.txt ./\n#2 CACHED HIT" in str(second["stderr"])
    # the plain text form prints the digest, like the full build
    text = dy("build", "--network", "none", "-t", "shop:dev", str(ctx))
    assert text.returncode == 0
    assert text.stdout.strip() == first["containerimage.digest"]


def test_a_full_no_op_rebuild_gives_the_same_image_as_the_replay(
    dy: Run, settled: Callable[[str], Path], dockyard_home: Path
) -> None:
    # metadata-only history entries take their layer's time, as in BuildKit, so a full
    # rebuild from the cache reproduces the config byte for byte
    ctx = settled("noop")
    first = build(dy, ctx)
    for record in (dockyard_home / "cache" / "builds").iterdir():
        record.unlink()
    second = build(dy, ctx)
    assert not replayed(second)
    assert second["containerimage.digest"] == first["containerimage.digest"]


def test_new_content_with_the_same_size_and_mtime_is_built(
    dy: Run, settled: Callable[[str], Path]
) -> None:
    ctx = settled("content")
    first = build(dy, ctx)
    assert replayed(build(dy, ctx))  # the control: unchanged, it replays
    before = (ctx / "main.txt").stat()
    (ctx / "main.txt").write_text("main v2\n")
    os.utime(ctx / "main.txt", ns=(before.st_atime_ns, before.st_mtime_ns))
    second = build(dy, ctx)
    assert not replayed(second)
    assert second["containerimage.digest"] != first["containerimage.digest"]


def test_an_added_or_removed_file_is_built(dy: Run, settled: Callable[[str], Path]) -> None:
    ctx = settled("added")
    first = build(dy, ctx)
    assert replayed(build(dy, ctx))
    (ctx / "extra.txt").write_text("x\n")
    added = build(dy, ctx)
    assert not replayed(added)
    assert added["containerimage.digest"] != first["containerimage.digest"]
    (ctx / "deps.txt").rename(ctx / "deps.bak")
    (ctx / "deps.txt").write_text("deps v1\n")  # same content, another file: built again
    assert not replayed(build(dy, ctx))
    # extra.txt gone, deps.txt back (a rename moves its ctime, so this is built again):
    # the same image as the first build
    (ctx / "deps.bak").replace(ctx / "deps.txt")
    (ctx / "extra.txt").unlink()
    back = build(dy, ctx)
    assert back["containerimage.digest"] == first["containerimage.digest"]


def test_a_change_to_an_ignored_file_still_replays(dy: Run, settled: Callable[[str], Path]) -> None:
    ctx = settled("ignored")
    build(dy, ctx)
    assert replayed(build(dy, ctx))
    (ctx / "notes.md").write_text("still ignored, and changed\n")
    assert replayed(build(dy, ctx))


def test_a_changed_dockerfile_is_built(dy: Run, settled: Callable[[str], Path]) -> None:
    ctx = settled("dockerfile")
    build(dy, ctx)
    assert replayed(build(dy, ctx))
    (ctx / "Dockerfile").write_text(DOCKERFILE + "LABEL x=y\n")
    assert not replayed(build(dy, ctx))


def test_build_args_and_their_environment_values_are_part_of_the_request(
    dy: Run, settled: Callable[[str], Path]
) -> None:
    ctx = settled("args")
    build(dy, ctx, "--build-arg", "FLAVOUR=a")
    assert replayed(build(dy, ctx, "--build-arg", "FLAVOUR=a"))
    assert not replayed(build(dy, ctx, "--build-arg", "FLAVOUR=b"))
    build(dy, ctx, "--build-arg", "FLAVOUR", env={"FLAVOUR": "c"})
    assert replayed(build(dy, ctx, "--build-arg", "FLAVOUR", env={"FLAVOUR": "c"}))
    changed = build(dy, ctx, "--build-arg", "FLAVOUR", env={"FLAVOUR": "d"})
    assert not replayed(changed)
    assert not replayed(build(dy, ctx, env={"SOURCE_DATE_EPOCH": "1700000000"}))


def test_a_moved_base_tag_is_built(dy: Run, settled: Callable[[str], Path], tmp_path: Path) -> None:
    ctx = settled("base")
    build(dy, ctx, "-t", "shop:base")
    assert replayed(build(dy, ctx, "-t", "shop:base"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "Dockerfile").write_text(f"FROM {BASE}\nLABEL other=1\n")
    built = dy("build", "--progress", "quiet", "-t", BASE, str(other))
    assert built.returncode == 0, built.stderr
    assert not replayed(build(dy, ctx, "-t", "shop:base"))


def test_a_moved_output_tag_is_built_and_tagged_again(
    dy: Run, settled: Callable[[str], Path], dockyard_home: Path
) -> None:
    ctx = settled("tags")
    first = build(dy, ctx, "-t", "shop:tags")
    assert replayed(build(dy, ctx, "-t", "shop:tags"))
    assert dy("tag", BASE, "shop:tags").returncode == 0
    second = build(dy, ctx, "-t", "shop:tags")
    assert not replayed(second)
    tags = json.loads((dockyard_home / "repositories.json").read_text())["tags"]
    assert tags["docker.io/library/shop:tags"]["digest"] == first["containerimage.digest"]


def test_a_missing_blob_is_built(
    dy: Run, settled: Callable[[str], Path], dockyard_home: Path
) -> None:
    ctx = settled("blobs")
    first = build(dy, ctx)
    assert replayed(build(dy, ctx))
    config = str(first["containerimage.config.digest"]).split(":")[1]
    (dockyard_home / "blobs" / "sha256" / config).unlink()
    second = build(dy, ctx)
    assert not replayed(second)
    assert (dockyard_home / "blobs" / "sha256" / config).is_file()


@pytest.mark.parametrize(
    "flags",
    [("--no-cache",), ("--output", "type=image"), ("--cache-to", "type=inline"), ("--push",)],
)
def test_builds_that_do_more_than_report_never_replay(
    dy: Run, settled: Callable[[str], Path], flags: tuple[str, ...]
) -> None:
    ctx = settled("flags")
    if flags == ("--push",):
        # a push needs a name; the usage error comes from the full command, never a replay
        build(dy, ctx)
        result = dy("build", "--progress", "quiet", "--push", str(ctx))
        assert result.returncode == 2
        assert "pushing needs a name" in result.stderr
        return
    build(dy, ctx, *flags)
    assert not replayed(build(dy, ctx, *flags))


def test_a_corrupt_record_means_a_full_build(
    dy: Run, settled: Callable[[str], Path], dockyard_home: Path
) -> None:
    ctx = settled("corrupt")
    first = build(dy, ctx)
    (record,) = (dockyard_home / "cache" / "builds").iterdir()
    record.write_bytes(b"\xfb truncated")
    second = build(dy, ctx)
    assert not replayed(second)
    assert second["containerimage.digest"] == first["containerimage.digest"]
    good = replay.read_record(record)
    assert good is not None
    record.write_bytes(marshal.dumps({**good, "tags": [], "blobs": 3}))
    assert not replayed(build(dy, ctx))
    assert replayed(build(dy, ctx))


def test_a_build_from_its_own_tag_is_never_recorded(
    dy: Run, settled: Callable[[str], Path]
) -> None:
    ctx = settled("self")
    # FROM dybase:1 ... -t dybase:1: the next build starts from this result
    build(dy, ctx, "-t", BASE)
    assert not replayed(build(dy, ctx, "-t", BASE))


def test_a_build_that_downloads_is_never_recorded(
    dy: Run, settled: Callable[[str], Path], http_server: tuple[str, Path]
) -> None:
    url, www = http_server
    (www / "tool.sh").write_text("echo tool\n")
    ctx = settled("url")
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nADD {url}/tool.sh /opt/\n")
    time.sleep(replay.RACY_WINDOW_NS / 1e9 + 0.2)
    build(dy, ctx)
    assert not replayed(build(dy, ctx))


def test_a_freshly_written_context_is_not_recorded(dy: Run, tmp_path: Path) -> None:
    ctx = tmp_path / "fresh"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "deps.txt").write_text("d\n")
    (ctx / "main.txt").write_text("m\n")
    build(dy, ctx)
    assert not replayed(build(dy, ctx))


@pytest.mark.parametrize(
    ("spelled", "respelled"),
    [
        (["-t", "a:1", "-f", "{ctx}/Dockerfile"], ["--tag=a:1", "--file", "{ctx}/Dockerfile"]),
        (
            ["--build-arg", "FLAVOUR=x", "--target", "build"],
            ["--target=build", "--build-arg=FLAVOUR=x"],
        ),
        (["-j", "1", "--explain-cache", "--load"], ["--jobs=2", "--progress=quiet"]),
    ],
)
def test_the_fast_parser_keys_a_request_as_the_full_command_does(
    dy: Run,
    settled: Callable[[str], Path],
    dockyard_home: Path,
    spelled: list[str],
    respelled: list[str],
) -> None:
    ctx = settled("spellings")
    records = dockyard_home / "cache" / "builds"
    first = [a.format(ctx=ctx) for a in spelled]
    second = [a.format(ctx=ctx) for a in respelled]
    result = dy("build", "--network", "none", "--progress", "quiet", *first, str(ctx))
    assert result.returncode == 0, result.stderr
    (written,) = [p.name for p in records.iterdir()]
    values = parse_args([*second, "--network", "none", str(ctx)], os.environ)
    assert values is not None
    request = _replay._request(values, os.environ)
    assert os.path.basename(replay.record_path(request)) == written


@pytest.mark.parametrize(
    "argv",
    [
        ["-"],
        ["-f", "-", "."],
        ["-tfoo", "."],
        ["--no-cache", "."],
        ["--network", "bridge", "."],
        ["--progress", "fancy", "."],
        ["--jobs", "many", "."],
        ["a", "b"],
        ["--tag"],
        ["--build-arg", "=x", "."],
        ["--", "."],
        ["--output=type=image", "."],
    ],
)
def test_the_fast_parser_leaves_anything_unusual_to_the_full_command(argv: list[str]) -> None:
    assert parse_args(argv, {}) is None


def test_the_fast_path_loads_neither_click_nor_the_engine() -> None:
    code = (
        "import sys; import dockyard.cli._replay; "
        "bad = [m for m in ('click', 'rich', 'httpx', 'dockyard.build.engine', 'dockyard.oci') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cache_prune_removes_records_asked_for_or_whose_image_is_gone(
    dy: Run, settled: Callable[[str], Path], dockyard_home: Path
) -> None:
    ctx = settled("prune")
    records = dockyard_home / "cache" / "builds"
    build(dy, ctx, "-t", "shop:kept")
    build(dy, ctx, "--build-arg", "FLAVOUR=gone")  # untagged: only a GC root keeps it
    assert len(list(records.iterdir())) == 2
    assert dy("cache", "prune").returncode == 0  # drops build roots: the untagged image goes
    assert len(list(records.iterdir())) == 1
    assert replayed(build(dy, ctx, "-t", "shop:kept"))
    du = json.loads(dy("cache", "du", "--format", "json").stdout)
    assert du["builds"]["count"] == 1
    assert du["builds"]["bytes"] > 0
    assert "build records" in dy("cache", "du").stdout
    assert dy("cache", "prune", "--all").returncode == 0
    assert list(records.iterdir()) == []


def test_another_image_tagged_since_does_not_stop_a_replay(
    dy: Run, settled: Callable[[str], Path]
) -> None:
    # the tag index changed (another service was built): the replay reads it and sees
    # that this build's tags still hold
    ctx = settled("two")
    first = build(dy, ctx, "-t", "svc:a")
    build(dy, ctx, "-t", "svc:b", "--build-arg", "FLAVOUR=b")
    again = build(dy, ctx, "-t", "svc:a")
    assert replayed(again)
    assert again["containerimage.digest"] == first["containerimage.digest"]
