"""The analysis core over hand-made layers: per-layer changes, precise waste, findings."""

from __future__ import annotations

import pytest

from dockyard.analyze import Analyzer, Entry, EntryKind, LayerInfo, Report, analyze_image
from tests.analyze.images import scenarios


def _report(name: str) -> Report:
    return analyze_image(scenarios()[name].image(), name=name, top=50)


def test_layers_count_added_changed_removed_with_whiteouts_and_opaque_dirs() -> None:
    report = _report("overwrite-whiteout-opaque")
    counts = [
        (layer.files_added, layer.files_changed, layer.files_removed, layer.removed_bytes)
        for layer in report.layers
    ]
    # layer 1 rewrites a/f1 and deletes a/f2; layer 2 deletes b/h (2 files under it) and
    # makes c/ opaque (hides c/old and c/sub/deep) while adding c/new
    assert counts == [(8, 0, 0, 0), (1, 1, 1, 2000), (1, 0, 4, 4396 + 1600)]
    assert [layer.instruction for layer in report.layers] == [
        "RUN step 0",
        "RUN step 1",
        "RUN step 2",
    ]
    assert [layer.wasted_bytes for layer in report.layers] == [1000 + 2000 + 4396 + 1600, 0, 0]
    assert [layer.content_size for layer in report.layers] == [16496, 8500, 100]


def test_precise_waste_and_final_filesystem() -> None:
    report = _report("overwrite-whiteout-opaque")
    assert report.overwritten_bytes == 1000
    assert report.deleted_bytes == 2000 + 4396 + 1600
    assert report.duplicate_bytes == 7000
    assert report.reclaimable_bytes == 1000 + 7996 + 7000
    assert report.final_files == 5
    assert report.final_size == 1500 + 500 + 100 + 7000 + 7000
    assert [(p.path, p.bytes) for p in report.wasted_paths][:3] == [
        ("/b/h/j/k", 4096),
        ("/a/f2", 2000),
        ("/a/f1", 1000),
    ]
    (group,) = report.duplicates
    assert (group.paths, group.count, group.wasted_bytes) == (("/dup1", "/dup2"), 2, 7000)
    assert [(p.path, p.bytes, p.layer) for p in report.largest_files[:3]] == [
        ("/dup1", 7000, 0),
        ("/dup2", 7000, 1),
        ("/a/f1", 1500, 1),
    ]
    assert ("/a", 1500) in [(p.path, p.bytes) for p in report.largest_dirs]
    assert "/c/old" not in [p.path for p in report.largest_files]


def test_dive_numbers_on_a_known_image() -> None:
    report = _report("overwrite-whiteout-opaque")
    # dive: /a/f1 is seen twice (1000 + 1500), /a/f2 twice (2000 + a file whiteout = 0),
    # /b/h once (a directory whiteout sized by the subtree it hides), /empty twice (0)
    assert {(c.path, c.count, c.bytes) for c in report.inefficiencies} == {
        ("/a/f1", 2, 2500),
        ("/a/f2", 2, 2000),
        ("/empty", 2, 0),
    }
    assert report.wasted_bytes == 4500
    total = 16496 + 8500 + 4396 + 100  # every leaf reference, the /b/h whiteout at 4396
    assert report.efficiency == pytest.approx((total - 4500 + 1000) / total)
    assert report.size_bytes == 16496 + 8500 + 100


def test_file_replaced_by_directory_and_deleted_directory() -> None:
    report = _report("replace-types-links")
    layer1, layer2, layer3 = report.layers[1:]
    # adds a/f1/inner, lnk, hard; changes c/sub/deep; b/g turning into a directory is no file
    assert (layer1.files_added, layer1.files_changed) == (3, 1)
    # a/f1 and b/g became directories, c/sub/deep and dup1 were rewritten
    assert report.overwritten_bytes == 1000 + 500 + 900 + 7000
    assert layer2.files_removed == 2  # a/f1/inner and c/sub/deep
    assert layer3.files_removed == 2  # apt list and the README under usr/share
    paths = {p.path for p in report.largest_files}
    assert "/a/f1/inner" not in paths
    assert "/lnk" not in paths  # symlinks and hardlinks store no bytes
    assert report.findings == ()  # the apt lists and docs were deleted again


def _feed(*layers: list[Entry]) -> Report:
    analyzer = Analyzer(top=5)
    for index, entries in enumerate(layers):
        analyzer.begin_layer(LayerInfo(index=index))
        for entry in entries:
            analyzer.add(entry)
        analyzer.end_layer(size=0)
    return analyzer.finish(image="x")


def _file(path: str, size: int, digest: str | None = None) -> Entry:
    return Entry(path, EntryKind.FILE, size, digest)


def test_findings_for_caches_toolchains_and_docs() -> None:
    report = _feed(
        [
            _file("var/lib/apt/lists/deb.debian.org_Packages", 40_000),
            _file("var/lib/apt/lists/lock", 0),
            _file("var/cache/apt/pkgcache.bin", 30_000),
            _file("root/.cache/pip/http/ab/cd", 5_000),
            _file("home/app/.npm/_cacache/x", 6_000),
            _file("root/.cache/go-build/aa/bb", 7_000),
        ],
        [
            _file("usr/lib/gcc/x86_64-linux-gnu/12/cc1", 25_000),
            _file("usr/bin/gcc-12", 1_000),
            _file("usr/include/stdio.h", 3_000),
            _file("usr/local/go/bin/go", 12_000),
            _file("usr/share/doc/libc6/copyright", 2_000),
            _file("usr/share/man/man1/ls.1.gz", 500),
            _file("usr/bin/ls", 140_000),
        ],
    )
    found = {f.id: (f.category, f.bytes, f.layers) for f in report.findings}
    assert found == {
        "apt-lists": ("cache", 40_000, (0,)),
        "apt-cache": ("cache", 30_000, (0,)),
        "pip-cache": ("cache", 5_000, (0,)),
        "npm-cache": ("cache", 6_000, (0,)),
        "go-cache": ("cache", 7_000, (0,)),
        "c-toolchain": ("toolchain", 26_000, (1,)),
        "headers": ("toolchain", 3_000, (1,)),
        "go-toolchain": ("toolchain", 12_000, (1,)),
        "docs": ("docs", 2_500, (1,)),
    }
    docs = next(f for f in report.findings if f.id == "docs")
    assert [p.path for p in docs.paths] == ["/usr/share/doc", "/usr/share/man"]
    assert all(f.hint for f in report.findings)


def test_opaque_directory_keeps_what_its_own_layer_adds_in_any_order() -> None:
    report = _feed(
        [_file("d/lower", 10), _file("d/sub/lower", 20), _file("keep", 1)],
        [
            _file("d/sub/upper", 5),  # before the marker in the tar
            Entry("d/.wh..wh..opq", EntryKind.FILE),
            _file("d/after", 7),
        ],
    )
    assert {p.path for p in report.largest_files} == {"/d/sub/upper", "/d/after", "/keep"}
    assert report.deleted_bytes == 30
    assert report.layers[1].files_removed == 2


def test_duplicates_need_digests_and_ignore_hardlinks() -> None:
    report = _feed(
        [
            _file("a", 100, "sha256:aa"),
            _file("b", 100, "sha256:aa"),
            _file("c", 100, "sha256:aa"),
            _file("d", 100),  # not hashed: never a duplicate
            Entry("e", EntryKind.HARDLINK, 0, None, "a"),
        ]
    )
    (group,) = report.duplicates
    assert (group.count, group.wasted_bytes, group.paths) == (3, 200, ("/a", "/b", "/c"))


def test_json_report_has_the_documented_top_level_fields() -> None:
    data = _report("overwrite-whiteout-opaque").to_dict()
    assert data["schemaVersion"] == 1
    assert set(data) == {
        "schemaVersion", "image", "digest", "platform", "sizeBytes", "compressedSize",
        "uncompressedSize", "finalSize", "finalFiles", "efficiency", "wastedBytes",
        "userWastedPercent", "inefficiencies", "reclaimable", "layers", "largestFiles",
        "largestDirs", "findings",
    }  # fmt: skip
    assert set(data["reclaimable"]) == {
        "bytes", "overwrittenBytes", "deletedBytes", "duplicateBytes", "paths", "duplicates"
    }  # fmt: skip
    assert data["layers"][1]["filesChanged"] == 1
    assert data["userWastedPercent"] == pytest.approx(4500 / (8500 + 100))


def test_misuse_of_the_streaming_protocol_is_a_programming_error() -> None:
    analyzer = Analyzer()
    with pytest.raises(RuntimeError):
        analyzer.add(_file("x", 1))
    analyzer.begin_layer(LayerInfo(index=0))
    with pytest.raises(RuntimeError):
        analyzer.finish()
