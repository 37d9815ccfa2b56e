"""Image references parsed and normalized like Docker's (``busybox`` → ``docker.io/library/busybox``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import InvalidDigestError, InvalidReferenceError
from dockyard.oci.digest import Digest

__all__ = ["DEFAULT_REGISTRY", "DEFAULT_TAG", "Reference"]

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_REGISTRIES = {"index.docker.io", "registry-1.docker.io"}

# The grammar of github.com/distribution/reference (regexp.go).
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_NAME_TOTAL_LENGTH_MAX = 255
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")  # Docker refuses a bare image ID as a name


def _split_domain(name: str) -> tuple[str, str]:
    """Docker's splitDockerDomain: the first component is a registry if it looks like a host."""
    first, sep, rest = name.partition("/")
    if not sep or (
        first != "localhost" and "." not in first and ":" not in first and first.lower() == first
    ):
        domain, path = DEFAULT_REGISTRY, name
    else:
        domain, path = first, rest
    if domain in _LEGACY_REGISTRIES:
        domain = DEFAULT_REGISTRY
    if domain == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    return domain, path


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalized image reference: registry, repository, and a tag and/or a digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse a reference as ``docker pull`` would; InvalidReferenceError explains what's wrong."""
        if not text:
            raise InvalidReferenceError("empty image reference")
        if text != text.strip() or any(c.isspace() for c in text):
            raise InvalidReferenceError(f"invalid reference {text!r}: contains whitespace")
        if _IDENTIFIER.fullmatch(text):
            raise InvalidReferenceError(
                f"invalid repository name {text!r}: cannot specify 64-byte hexadecimal strings",
                hint="that looks like an image ID; use sha256:<hex> for a digest",
            )
        match = _REFERENCE.fullmatch(text)
        if match is None:
            lowered = text.lower()
            if lowered != text and _REFERENCE.fullmatch(lowered):
                raise InvalidReferenceError(
                    f"invalid reference {text!r}: repository name must be lowercase",
                    hint=f"use {lowered!r}",
                )
            raise InvalidReferenceError(
                f"invalid reference format {text!r}",
                hint="expected [REGISTRY/]REPOSITORY[:TAG][@DIGEST]",
            )
        name = match.group("name")
        if len(name) > _NAME_TOTAL_LENGTH_MAX:
            raise InvalidReferenceError(f"repository name {name!r} is longer than 255 characters")
        registry, repository = _split_domain(name)
        if repository.lower() != repository:
            raise InvalidReferenceError(
                f"invalid reference {text!r}: repository name must be lowercase",
                hint=f"use {repository.lower()!r}",
            )
        digest = None
        if match.group("digest"):
            try:
                digest = Digest.parse(match.group("digest"))
            except InvalidDigestError as exc:
                raise InvalidReferenceError(
                    f"invalid reference {text!r}: {exc.message}", hint=exc.hint
                ) from exc
        return cls(registry, repository, match.group("tag"), digest)

    @property
    def name(self) -> str:
        """``registry/repository`` (normalized)."""
        return f"{self.registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag (default ``latest``)."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or DEFAULT_TAG

    def with_default_tag(self) -> Reference:
        """Add ``:latest`` when neither tag nor digest is given (Docker's TagNameOnly)."""
        if self.tag is None and self.digest is None:
            return Reference(self.registry, self.repository, DEFAULT_TAG)
        return self

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: Digest) -> Reference:
        return Reference(self.registry, self.repository, self.tag, digest)

    def familiar(self) -> str:
        """The short form Docker shows: ``busybox:1`` rather than ``docker.io/library/busybox:1``."""
        name = self.repository
        if self.registry == DEFAULT_REGISTRY and name.count("/") == 1:
            name = name.removeprefix("library/")  # library/foo/bar stays as is, like Docker
        if self.registry != DEFAULT_REGISTRY:
            name = f"{self.registry}/{name}"
        return name + self._suffix()

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        return out + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()
