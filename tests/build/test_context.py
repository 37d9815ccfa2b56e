"""The build context: source selection, .dockerignore, escapes, digests and the stat cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dockyard.build.context import (
    BuildContext,
    ContextEntry,
    StatCache,
    content_digest,
    selection_digest,
)
from dockyard.errors import BuildContextError


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def ctx_dir(tmp_path: Path) -> Path:
    return _tree(
        tmp_path / "ctx",
        {
            "main.go": "package main\n",
            "go.mod": "module x\n",
            "README.md": "readme\n",
            "src/a.txt": "a\n",
            "src/b.txt": "b\n",
            "src/sub/c.txt": "c\n",
            "docs/README.md": "docs readme\n",
            "docs/other.md": "other\n",
            "node_modules/x/index.js": "x\n",
        },
    )


def _paths(ctx: BuildContext, *sources: str) -> list[str]:
    return [e.path for m in ctx.select(list(sources)).matches for e in m.entries]


def test_file_and_directory_sources(ctx_dir: Path) -> None:
    ctx = BuildContext(ctx_dir)
    assert _paths(ctx, "main.go") == ["main.go"]
    assert _paths(ctx, "src") == ["src", "src/a.txt", "src/b.txt", "src/sub", "src/sub/c.txt"]
    assert _paths(ctx, "./src/../go.mod", "/main.go") == ["go.mod", "main.go"]
    selection = ctx.select(["src/"])
    assert selection.matches[0].is_dir
    assert selection.matches[0].path == "src"


def test_wildcards_use_go_match(ctx_dir: Path) -> None:
    ctx = BuildContext(ctx_dir)
    assert _paths(ctx, "*.go") == ["main.go"]
    assert _paths(ctx, "go.*") == ["go.mod"]
    assert _paths(ctx, "src/*.txt") == ["src/a.txt", "src/b.txt"]
    assert _paths(ctx, "s*/sub") == ["src/sub", "src/sub/c.txt"]
    # "*" does not cross "/"
    with pytest.raises(BuildContextError, match="matches nothing"):
        ctx.select(["*.txt"])
    assert ctx.select(["*.txt"], allow_empty_wildcard=True).matches == ()


def test_dockerignore_hides_files(ctx_dir: Path) -> None:
    (ctx_dir / ".dockerignore").write_text("node_modules\n*.md\ndocs\n!docs/README.md\n")
    ctx = BuildContext(ctx_dir)
    everything = [e.path for e in ctx.walk_all()]
    assert "node_modules" not in everything
    assert "README.md" not in everything
    assert "docs/other.md" not in everything
    assert "docs/README.md" in everything
    assert "docs" in everything  # kept as the parent of an exception
    with pytest.raises(BuildContextError, match="not found"):
        ctx.select(["README.md"])
    with pytest.raises(BuildContextError, match="not found"):
        ctx.select(["node_modules/x/index.js"])
    assert _paths(ctx, "docs") == ["docs", "docs/README.md"]


def test_copy_excludes(ctx_dir: Path) -> None:
    ctx = BuildContext(ctx_dir)
    selection = ctx.select(["src"], excludes=["*.txt"])
    assert [e.path for e in selection.matches[0].entries] == ["src", "src/sub", "src/sub/c.txt"]


def test_paths_leaving_the_context_are_refused(ctx_dir: Path, tmp_path: Path) -> None:
    ctx = BuildContext(ctx_dir)
    for source in ["../x", "..", "src/../../x"]:
        with pytest.raises(BuildContextError, match="outside the build context"):
            ctx.select([source])
    (tmp_path / "secret").write_text("s\n")
    (ctx_dir / "abs").symlink_to(tmp_path / "secret")
    (ctx_dir / "rel").symlink_to("../secret")
    for source in ["abs", "rel"]:
        with pytest.raises(BuildContextError, match="outside the build context"):
            ctx.select([source])


def test_symlinks_inside_directories_are_kept_as_symlinks(ctx_dir: Path) -> None:
    (ctx_dir / "src" / "out").symlink_to("/etc/passwd")
    (ctx_dir / "link-to-src").symlink_to("src")
    ctx = BuildContext(ctx_dir)
    entries = {e.path: e for e in ctx.select(["src"]).matches[0].entries}
    assert entries["src/out"].kind == "symlink"
    assert entries["src/out"].link_target == "/etc/passwd"
    # a symlink named as the source is followed, inside the context
    followed = ctx.select(["link-to-src"]).matches[0]
    assert followed.path == "src"
    assert followed.is_dir


def test_digest_covers_content_mode_and_links_not_mtimes(ctx_dir: Path) -> None:
    ctx = BuildContext(ctx_dir)
    first = ctx.select(["src"]).digest
    os.utime(ctx_dir / "src" / "a.txt", (1, 1))
    assert BuildContext(ctx_dir).select(["src"]).digest == first
    os.chmod(ctx_dir / "src" / "a.txt", 0o600)
    second = BuildContext(ctx_dir).select(["src"]).digest
    assert second != first
    (ctx_dir / "src" / "b.txt").write_text("B\n")
    assert BuildContext(ctx_dir).select(["src"]).digest != second


def test_content_digest_is_a_pure_function() -> None:
    entries = [
        ContextEntry("a", "dir", 0o755, 0, 0),
        ContextEntry("a/f", "file", 0o644, 1000, 1000, 3, sha256="ab" * 32),
        ContextEntry("a/l", "symlink", 0o777, 0, 0, link_target="f"),
    ]
    golden = content_digest(entries)
    assert golden == content_digest(list(entries))
    assert golden.startswith("sha256:")
    changed = [*entries[:2], ContextEntry("a/l", "symlink", 0o777, 0, 0, link_target="g")]
    assert content_digest(changed) != golden
    owner = [entries[0], ContextEntry("a/f", "file", 0o644, 0, 0, 3, sha256="ab" * 32)]
    assert content_digest(owner) != content_digest(entries[:2])
    assert selection_digest([]) == selection_digest(())


def test_stat_cache_is_used_and_persisted(ctx_dir: Path, dockyard_home: Path) -> None:
    old = time.time() - 3600
    for path in ctx_dir.rglob("*"):
        os.utime(path, (old, old))
    # ctime cannot be set: a zero racy window lets these fresh files be cached
    cache = StatCache(ctx_dir, racy_window_ns=0)
    digest = BuildContext(ctx_dir, stat_cache=cache).select(["src"]).digest
    assert cache.misses == 3
    assert (dockyard_home / "cache" / "context-stat.sqlite").exists()
    again = StatCache(ctx_dir, racy_window_ns=0)
    assert BuildContext(ctx_dir, stat_cache=again).select(["src"]).digest == digest
    assert again.hits == 3
    assert again.misses == 0


def test_racy_files_are_not_cached(ctx_dir: Path) -> None:
    cache = StatCache(ctx_dir)  # default window: files written just now are never cached
    BuildContext(ctx_dir, stat_cache=cache).select(["src"])
    assert StatCache(ctx_dir).known == {}


def test_same_size_and_mtime_but_new_content_is_never_a_false_hit(ctx_dir: Path) -> None:
    """Regression (BuildKit has had this bug): size and mtime equal, content different."""
    target = ctx_dir / "src" / "a.txt"
    cache = StatCache(ctx_dir, racy_window_ns=0)
    first = BuildContext(ctx_dir, stat_cache=cache).select(["src/a.txt"]).digest
    st = target.stat()
    time.sleep(0.01)
    with target.open("r+b") as fh:  # same inode, same size
        fh.write(b"Z")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        st.st_size,
        st.st_mtime_ns,
        st.st_ino,
    )
    cache2 = StatCache(ctx_dir, racy_window_ns=0)
    second = BuildContext(ctx_dir, stat_cache=cache2).select(["src/a.txt"]).digest
    assert second != first
    # and through a rename (new inode), keeping size and mtime again
    replacement = ctx_dir / "src" / "new"
    replacement.write_text("Y\n")
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))
    replacement.replace(target)
    cache3 = StatCache(ctx_dir, racy_window_ns=0)
    third = BuildContext(ctx_dir, stat_cache=cache3).select(["src/a.txt"]).digest
    assert third not in (first, second)


def test_bad_dockerignore_names_the_file(ctx_dir: Path) -> None:
    (ctx_dir / ".dockerignore").write_text("[\n")
    with pytest.raises(BuildContextError, match=r"\.dockerignore"):
        BuildContext(ctx_dir)


def test_missing_context(tmp_path: Path) -> None:
    with pytest.raises(BuildContextError, match="not a directory"):
        BuildContext(tmp_path / "nope")
