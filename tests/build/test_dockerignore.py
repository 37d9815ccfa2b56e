"""Docker's .dockerignore semantics, ported from moby/patternmatcher's own test tables."""

from __future__ import annotations

import pytest

from dockyard.build.dockerignore import (
    BadPatternError,
    PatternMatcher,
    go_match,
    has_wildcards,
    parse_dockerignore,
)

EXACT, INEXACT, FAIL = "exact", "inexact", "fail"

# (pattern, path, result) from patternmatcher_test.go TestMatches
MATCHES = [
    ("**", "file", EXACT),
    ("**", "file/", EXACT),
    ("**/", "file", EXACT),
    ("**/", "file/", EXACT),
    ("**", "/", EXACT),
    ("**/", "/", EXACT),
    ("**", "dir/file", EXACT),
    ("**/", "dir/file", EXACT),
    ("**", "dir/file/", EXACT),
    ("**/", "dir/file/", EXACT),
    ("**/**", "dir/file", EXACT),
    ("**/**", "dir/file/", EXACT),
    ("dir/**", "dir/file", EXACT),
    ("dir/**", "dir/file/", EXACT),
    ("dir/**", "dir/dir2/file", EXACT),
    ("dir/**", "dir/dir2/file/", EXACT),
    ("**/dir", "dir", EXACT),
    ("**/dir", "dir/file", INEXACT),
    ("**/dir2/*", "dir/dir2/file", EXACT),
    ("**/dir2/*", "dir/dir2/file/", INEXACT),
    ("**/dir2/**", "dir/dir2/dir3/file", EXACT),
    ("**/dir2/**", "dir/dir2/dir3/file/", EXACT),
    ("**file", "file", EXACT),
    ("**file", "dir/file", EXACT),
    ("**/file", "dir/file", EXACT),
    ("**file", "dir/dir/file", EXACT),
    ("**/file", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file.txt", EXACT),
    ("**/file*txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt*", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt2", "dir/dir/file.txt", FAIL),
    ("**/*.txt", "file.txt", EXACT),
    ("**/**/*.txt", "file.txt", EXACT),
    ("a**/*.txt", "a/file.txt", EXACT),
    ("a**/*.txt", "a/dir/file.txt", EXACT),
    ("a**/*.txt", "a/dir/dir/file.txt", EXACT),
    ("a/*.txt", "a/dir/file.txt", FAIL),
    ("a/*.txt", "a/file.txt", EXACT),
    ("a/*.txt**", "a/file.txt", EXACT),
    ("a[b-d]e", "ae", FAIL),
    ("a[b-d]e", "ace", EXACT),
    ("a[b-d]e", "aae", FAIL),
    ("a[^b-d]e", "aze", EXACT),
    (".*", ".foo", EXACT),
    (".*", "foo", FAIL),
    ("abc.def", "abcdef", FAIL),
    ("abc.def", "abc.def", EXACT),
    ("abc.def", "abcZdef", FAIL),
    ("abc?def", "abcZdef", EXACT),
    ("abc?def", "abcdef", FAIL),
    ("**/foo/bar", "foo/bar", EXACT),
    ("**/foo/bar", "dir/foo/bar", EXACT),
    ("**/foo/bar", "dir/dir2/foo/bar", EXACT),
    ("abc/**", "abc", FAIL),
    ("abc/**", "abc/def", EXACT),
    ("abc/**", "abc/def/ghi", EXACT),
    ("**/.foo", ".foo", EXACT),
    ("**/.foo", "bar.foo", FAIL),
    ("a(b)c/def", "a(b)c/def", EXACT),
    ("a(b)c/def", "a(b)c/xyz", FAIL),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", EXACT),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        EXACT,
    ),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("a\\\\", "a\\", EXACT),
    ("a\\*b", "a*b", EXACT),
]

MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", FAIL),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", EXACT),
    (
        ["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        FAIL,
    ),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", FAIL),
    (["docs", "!docs/README.md"], "docs/README.md", FAIL),
    (["docs/", "!docs/README.md"], "docs/README.md", FAIL),
    (["docs/*", "!docs/README.md"], "docs/README.md", FAIL),
    (["!fileutils.go", "*.go"], "fileutils.go", EXACT),
    (["*.go", "!fileutils.go"], "fileutils.go", FAIL),
    (["*"], "fileutils.go", EXACT),
    ([], "any/path/there", FAIL),
]

# Go's filepath.Match table (pattern, name, match, bad pattern), as patternmatcher reuses it
GO_MATCH = [
    ("abc", "abc", True, False),
    ("*", "abc", True, False),
    ("*c", "abc", True, False),
    ("a*", "a", True, False),
    ("a*", "abc", True, False),
    ("a*", "ab/c", False, False),
    ("a*/b", "abc/b", True, False),
    ("a*/b", "a/c/b", False, False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True, False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True, False),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False, False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False, False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True, False),
    ("a*b?c*x", "abxbbxdbxebxczzy", False, False),
    ("ab[c]", "abc", True, False),
    ("ab[b-d]", "abc", True, False),
    ("ab[e-g]", "abc", False, False),
    ("ab[^c]", "abc", False, False),
    ("ab[^b-d]", "abc", False, False),
    ("ab[^e-g]", "abc", True, False),
    ("a\\*b", "a*b", True, False),
    ("a\\*b", "ab", False, False),
    ("a?b", "a☺b", True, False),
    ("a[^a]b", "a☺b", True, False),
    ("a???b", "a☺b", False, False),
    ("a[^a][^a][^a]b", "a☺b", False, False),
    ("[a-ζ]*", "α", True, False),  # noqa: RUF001
    ("*[a-ζ]", "A", False, False),
    ("a?b", "a/b", False, False),
    ("a*b", "a/b", False, False),
    ("[\\]a]", "]", True, False),
    ("[\\-]", "-", True, False),
    ("[x\\-]", "x", True, False),
    ("[x\\-]", "-", True, False),
    ("[x\\-]", "z", False, False),
    ("[\\-x]", "x", True, False),
    ("[\\-x]", "-", True, False),
    ("[\\-x]", "a", False, False),
    ("[]a]", "]", False, True),
    ("[-]", "-", False, True),
    ("[x-]", "x", False, True),
    ("[x-]", "-", False, True),
    ("[x-]", "z", False, True),
    ("[-x]", "x", False, True),
    ("[-x]", "-", False, True),
    ("[-x]", "a", False, True),
    ("\\", "a", False, True),
    ("[a-b-c]", "a", False, True),
    ("[", "a", False, True),
    ("[^", "a", False, True),
    ("[^bc", "a", False, True),
    ("a[", "ab", False, True),
    ("*x", "xxx", True, False),
]


@pytest.mark.parametrize(("pattern", "path", "result"), MATCHES)
def test_matches_or_parent_matches(pattern: str, path: str, result: str) -> None:
    assert PatternMatcher([pattern]).matches(path) is (result != FAIL)


@pytest.mark.parametrize(("pattern", "path", "result"), MATCHES)
def test_matches_exact(pattern: str, path: str, result: str) -> None:
    assert PatternMatcher([pattern]).matches_exact(path) is (result == EXACT)


@pytest.mark.parametrize(("patterns", "path", "result"), MULTI)
def test_multi_pattern(patterns: list[str], path: str, result: str) -> None:
    assert PatternMatcher(patterns).matches(path) is (result != FAIL)


@pytest.mark.parametrize(("pattern", "name", "match", "bad"), GO_MATCH)
def test_go_match(pattern: str, name: str, match: bool, bad: bool) -> None:
    if bad:
        with pytest.raises(BadPatternError):
            go_match(pattern, name)
    else:
        assert go_match(pattern, name) is match


@pytest.mark.parametrize("pattern", ["[", "!", "a[", "[^bc"])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(BadPatternError):
        PatternMatcher([pattern])


def test_exclusions_flag_and_whitespace() -> None:
    assert PatternMatcher(["docs", "  !docs/README.md"]).exclusions
    assert PatternMatcher(["docs", "!docs/README.md  "]).exclusions
    assert not PatternMatcher(["docs", "config", ""]).exclusions
    assert len(PatternMatcher(["docs", "config", ""]).patterns) == 2


def test_parse_dockerignore() -> None:
    text = (
        "\ufeff# comment\n"
        "\n"
        "  node_modules  \n"
        "/build/\n"
        "  # not a comment: leading spaces\n"
        "a/../b\n"
        "./c//d\n"
        "! keep.md\n"
        "!/root.txt\n"
        "/\n"
    )
    assert parse_dockerignore(text) == [
        "node_modules",
        "build",
        "# not a comment: leading spaces",
        "b",
        "c/d",
        "!keep.md",
        "!root.txt",
        "/",
    ]


def test_has_wildcards() -> None:
    assert has_wildcards("a*")
    assert has_wildcards("x/[ab]")
    assert has_wildcards("?")
    assert not has_wildcards("a\\*b")
    assert not has_wildcards("plain/path")
