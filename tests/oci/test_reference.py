"""Reference parsing and normalization, with vectors ported from distribution/reference."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidReferenceError
from dockyard.oci import Digest, Reference

F64 = "f" * 64
HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"

# normalize_test.go: TestValidateReferenceName / TestValidateRemoteName
VALID = [
    "docker/docker", "library/debian", "debian", "localhost/library/debian", "localhost/debian",
    "LOCALDOMAIN/library/debian", "LOCALDOMAIN/debian", "docker.io/docker/docker",
    "docker.io/library/debian", "docker.io/debian", "index.docker.io/docker/docker",
    "index.docker.io/library/debian", "index.docker.io/debian", "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian", "127.0.0.1:5000/debian", "192.168.0.1", "192.168.0.1:80",
    "192.168.0.1:8/debian", "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker", "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian", f"docker.io/{HEX64}", "Docker/docker",
    "DOCKER/docker", "docker-rules/docker", "docker---rules/docker", "doc/docker", "d/docker",
    "jess/t", "dock__er/docker",
]  # fmt: skip

INVALID = [
    "https://github.com/docker/docker", "docker/Docker", "-docker", "-docker/docker",
    "-docker.io/docker/docker", "docker///docker", "docker.io/docker/Docker",
    "docker.io/docker///docker", "[fc00::1]", "[fc00::1]:5000", "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian", "[2001:db8:3:4::192.0.2.33]:5000/debian", HEX64,
    "docker-/docker", "-docker-/docker", "____/____", "_docker/_docker", "dock..er/docker",
    "dock_.er/docker", "dock-.er/docker", "docker/", "this_is_not_a_valid_namespace_" * 9 + "/docker",
    # reference_test.go: TestReferenceParse error cases
    "", ":justtag", f"@sha256:{F64}", "repo@sha256:" + "f" * 34, f"validname@invaliddigest:{F64}",
    "Uppercase:tag", "test:5000/Uppercase/lowercase:tag", "a/" * 128 + "a:tag", "aa/asdf$$^/aa",
    "[2001:db8::1]", "[2001:db8::1]:5000", "[2001:db8::1]:tag", "[fe80::1%@invalidzone]:5000/repo",
    # whitespace and case
    "busybox ", " busybox", "bu sybox", "busybox:1 ", "Busybox", "busybox:\t1",
]  # fmt: skip


@pytest.mark.parametrize("text", VALID)
def test_valid_names(text: str) -> None:
    Reference.parse(text)


@pytest.mark.parametrize("text", INVALID)
def test_invalid_names(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        Reference.parse(text)


def test_uppercase_error_says_lowercase() -> None:
    with pytest.raises(InvalidReferenceError, match="lowercase") as info:
        Reference.parse("Busybox:1")
    assert info.value.exit_code == 2


def test_whitespace_error_is_clear() -> None:
    with pytest.raises(InvalidReferenceError, match="whitespace"):
        Reference.parse("busy box")


# TestParseRepositoryInfo: (familiar, full, ambiguous) -> domain, path
REPO_INFO = [
    ("fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io", "fooo/bar"),
    ("ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io", "library/ubuntu"),
    ("nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", None, "docker.io", "nonlibrary/ubuntu"),
    ("other/library", "docker.io/other/library", None, "docker.io", "other/library"),
    ("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", None,
     "127.0.0.1:8000", "private/moonbase"),
    ("127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", None,
     "127.0.0.1:8000", "privatebase"),
    ("example.com/private/moonbase", "example.com/private/moonbase", None,
     "example.com", "private/moonbase"),
    ("example.com:8000/privatebasee", "example.com:8000/privatebasee", None,
     "example.com:8000", "privatebasee"),
    ("ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base",
     "index.docker.io/library/ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base"),
    ("foo", "docker.io/library/foo", "docker.io/foo", "docker.io", "library/foo"),
    ("library/foo/bar", "docker.io/library/foo/bar", None, "docker.io", "library/foo/bar"),
    ("store/foo/bar", "docker.io/store/foo/bar", None, "docker.io", "store/foo/bar"),
    ("Foo/bar", "Foo/bar", None, "Foo", "bar"),
    ("FOO/bar", "FOO/bar", None, "FOO", "bar"),
]  # fmt: skip


@pytest.mark.parametrize(("familiar", "full", "ambiguous", "domain", "path"), REPO_INFO)
def test_repository_info(
    familiar: str, full: str, ambiguous: str | None, domain: str, path: str
) -> None:
    for text in [familiar, full] + ([ambiguous] if ambiguous else []):
        ref = Reference.parse(text)
        assert ref.registry == domain
        assert ref.repository == path
        assert ref.name == full
        assert ref.familiar() == familiar


# TestNormalizedSplitHostname
@pytest.mark.parametrize(
    ("text", "domain", "path"),
    [
        ("test.com/foo", "test.com", "foo"),
        ("test_com/foo", "docker.io", "test_com/foo"),
        ("docker/migrator", "docker.io", "docker/migrator"),
        ("test.com:8080/foo", "test.com:8080", "foo"),
        ("test-com:8080/foo", "test-com:8080", "foo"),
        ("foo", "docker.io", "library/foo"),
        ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
        ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
        ("docker.io/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
        ("localhost/foo", "localhost", "foo"),
        ("localhost:5000/foo", "localhost:5000", "foo"),
    ],
)
def test_split_hostname(text: str, domain: str, path: str) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository) == (domain, path)


# TestReferenceParse success cases: input -> (name, tag, digest)
@pytest.mark.parametrize(
    ("text", "name", "tag", "digest"),
    [
        ("test_com", "docker.io/library/test_com", None, None),
        ("test.com:tag", "docker.io/library/test.com", "tag", None),
        ("test.com:5000", "docker.io/library/test.com", "5000", None),
        ("test.com/repo:tag", "test.com/repo", "tag", None),
        ("test:5000/repo", "test:5000/repo", None, None),
        ("test:5000/repo:tag", "test:5000/repo", "tag", None),
        (f"test:5000/repo@sha256:{F64}", "test:5000/repo", None, f"sha256:{F64}"),
        (f"test:5000/repo:tag@sha256:{F64}", "test:5000/repo", "tag", f"sha256:{F64}"),
        ("lowercase:Uppercase", "docker.io/library/lowercase", "Uppercase", None),
        (
            "a/" * 127 + "a:tag-puts-this-over-max",
            "docker.io/" + "a/" * 127 + "a",
            "tag-puts-this-over-max",
            None,
        ),
        (
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            "sub-dom1.foo.com/bar/baz/quux",
            "some-long-tag",
            None,
        ),
        (
            "b.gcr.io/test.example.com/my-app:test.example.com",
            "b.gcr.io/test.example.com/my-app",
            "test.example.com",
            None,
        ),
        ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage", "xn--n3h.com", None),
        (
            f"xn--7o8h.com/myimage:xn--7o8h.com@sha512:{'f' * 128}",
            "xn--7o8h.com/myimage",
            "xn--7o8h.com",
            f"sha512:{'f' * 128}",
        ),
        ("foo_bar.com:8080", "docker.io/library/foo_bar.com", "8080", None),
        ("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com", "8080", None),
        ("192.168.1.1", "docker.io/library/192.168.1.1", None, None),
        ("192.168.1.1:5000", "docker.io/library/192.168.1.1", "5000", None),
        ("192.168.1.1/repo", "192.168.1.1/repo", None, None),
        ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo", "5050", None),
        ("[2001:db8::1]/repo", "[2001:db8::1]/repo", None, None),
        ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo", "tag", None),
        ("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000/repo", "tag", None),
        ("[::1]:5000/repo", "[::1]:5000/repo", None, None),
    ],
)
def test_parse(text: str, name: str, tag: str | None, digest: str | None) -> None:
    ref = Reference.parse(text)
    assert ref.name == name
    assert ref.tag == tag
    assert (str(ref.digest) if ref.digest else None) == digest


def test_tag_and_digest_round_trip() -> None:
    short = f"busybox:latest@sha256:{'86e0' * 16}"
    ref = Reference.parse(short)
    assert str(ref) == "docker.io/library/" + short
    assert ref.familiar() == short
    assert ref.identifier == f"sha256:{'86e0' * 16}"


def test_defaults_and_helpers() -> None:
    ref = Reference.parse("busybox")
    assert ref.tag is None
    assert ref.identifier == "latest"
    assert str(ref.with_default_tag()) == "docker.io/library/busybox:latest"
    assert str(ref.with_tag("1")) == "docker.io/library/busybox:1"
    digest = Digest.parse(f"sha256:{F64}")
    assert ref.with_digest(digest).digest == digest
    assert Reference.parse("127.0.0.1:5000/a/b:t").familiar() == "127.0.0.1:5000/a/b:t"
    assert Reference.parse("index.docker.io/library/x").registry == "docker.io"
