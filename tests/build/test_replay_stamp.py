"""The build record's stamp: what changes it, what does not, and when it is racy."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dockyard.build import replay


def make(ctx: Path) -> Path:
    (ctx / "src").mkdir(parents=True)
    (ctx / "src" / "a.txt").write_text("a\n")
    (ctx / "b.txt").write_text("b\n")
    (ctx / "skip.log").write_text("x\n")
    (ctx / ".dockerignore").write_text("*.log\n")
    os.symlink("b.txt", ctx / "link")
    return ctx


def stamp(ctx: Path, dockerfile: bytes = b"FROM scratch\n") -> replay.Stamp:
    found = replay.take_stamp(ctx, dockerfile)
    assert found is not None
    return found


def test_the_stamp_is_stable_and_counts_what_the_build_can_see(tmp_path: Path) -> None:
    ctx = make(tmp_path / "ctx")
    first = stamp(ctx)
    assert first == stamp(ctx)
    # skip.log is ignored; directories keep mode and owner only
    assert sorted(first.entries) == [".", ".dockerignore", "b.txt", "link", "src", "src/a.txt"]
    assert len(first.entries["src"]) == 3
    assert len(first.entries["link"]) == 8
    assert first.ignored == ("skip.log",)


def test_what_changes_the_stamp(tmp_path: Path) -> None:
    ctx = make(tmp_path / "ctx")
    before = stamp(ctx).entries
    assert stamp(ctx, b"FROM scratch\nENV A=1\n").head != stamp(ctx).head
    (ctx / "skip.log").write_text("ignored, so no change\n")
    assert stamp(ctx).entries == before
    os.chmod(ctx / "b.txt", 0o600)
    after_chmod = stamp(ctx).entries
    assert after_chmod != before
    (ctx / "src" / "new.txt").write_text("n\n")
    assert stamp(ctx).entries != after_chmod
    with_new = stamp(ctx)
    (ctx / ".dockerignore").write_text("*.log\nnothing-else\n")
    assert stamp(ctx).head != with_new.head


def test_a_stamp_of_recent_changes_is_racy(tmp_path: Path) -> None:
    ctx = make(tmp_path / "ctx")
    assert stamp(ctx).racy
    later = time.time_ns() + 2 * replay.RACY_WINDOW_NS
    settled = replay.take_stamp(ctx, b"", now_ns=later)
    assert settled is not None
    assert not settled.racy


def test_an_invalid_dockerignore_or_a_missing_context_gives_no_stamp(tmp_path: Path) -> None:
    ctx = make(tmp_path / "ctx")
    (ctx / ".dockerignore").write_text("[\n")
    assert replay.take_stamp(ctx, b"") is None
    assert replay.take_stamp(tmp_path / "missing", b"") is None


def request(**overrides: object) -> str:
    fields: dict[str, object] = {
        "context": "/work/ctx",
        "dockerfile": None,
        "tags": ["shop:dev"],
        "target": None,
        "build_args": ["A=1", "B"],
        "platform": None,
        "network": "default",
        "environ": {"B": "2"},
    }
    fields.update(overrides)
    return replay.build_request(**fields)  # type: ignore[arg-type]


def test_a_request_is_a_pure_function_of_the_command() -> None:
    assert request() == request()
    assert "'/work/ctx/Dockerfile'" in request()
    assert "('B', '2')" in request()  # --build-arg B took its value from the environment
    assert request(dockerfile="/work/ctx/Dockerfile") == request()
    for change in (
        {"context": "/work/other"},
        {"dockerfile": "/work/ctx/Dockerfile.prod"},
        {"tags": ["shop:x"]},
        {"target": "build"},
        {"build_args": ["A=2", "B"]},
        {"environ": {"B": "3"}},
        {"environ": {"B": "2", "SOURCE_DATE_EPOCH": "1"}},
        {"platform": "linux/amd64"},
        {"network": "none"},
    ):
        assert request(**change) != request(), change
    assert request(environ={"B": "2", "UNRELATED": "x"}) == request()


def test_record_names_are_a_pure_function_of_the_request(tmp_path: Path) -> None:
    path = replay.record_path(request(), tmp_path)
    assert path == replay.record_path(request(), tmp_path)
    assert path != replay.record_path(request(tags=["other"]), tmp_path)
    replay.write_record(request(), {"stamp": b"s", "blobs": []}, tmp_path)
    assert replay.load_record(request(), tmp_path) == {
        "stamp": b"s",
        "blobs": [],
        "version": replay.RECORD_VERSION,
        "request": request(),
    }
    assert replay.load_record(request(tags=["other"]), tmp_path) is None
    Path(path).write_bytes(b"\x00 not a record")
    assert replay.load_record(request(), tmp_path) is None


def test_a_replay_skips_known_ignored_paths_without_the_patterns(tmp_path: Path) -> None:
    ctx = make(tmp_path / "ctx")
    (ctx / ".dockerignore").write_text("*.log\nbuild\n")
    (ctx / "build").mkdir()
    (ctx / "build" / "out.bin").write_text("1\n")
    recorded = stamp(ctx)
    assert sorted(recorded.ignored) == ["build", "skip.log"]
    replayed = replay.take_stamp(ctx, b"FROM scratch\n", ignored=recorded.ignored)
    assert replayed == recorded
    (ctx / "build" / "out.bin").write_text("changed inside an ignored directory\n")
    again = replay.take_stamp(ctx, b"FROM scratch\n", ignored=recorded.ignored)
    assert again == recorded
    # a new path is stamped as if not ignored: the stamps differ and a full build decides
    (ctx / "new.log").write_text("x\n")
    assert replay.take_stamp(ctx, b"FROM scratch\n", ignored=recorded.ignored) != recorded
    assert stamp(ctx) == recorded  # the real patterns still ignore it


def test_exceptions_in_the_dockerignore_always_use_the_patterns(tmp_path: Path) -> None:
    ctx = make(tmp_path / "ctx")
    (ctx / ".dockerignore").write_text("*.log\n!keep.log\n")
    (ctx / "keep.log").write_text("k\n")
    recorded = stamp(ctx)
    (ctx / "new.log").write_text("x\n")
    assert replay.take_stamp(ctx, b"FROM scratch\n", ignored=recorded.ignored) == recorded
