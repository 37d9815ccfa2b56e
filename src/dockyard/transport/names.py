"""Parsing skopeo-style image names: ``oci:PATH[:TAG]``, ``docker://REF``, a bare reference, ..."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import InvalidReferenceError, UsageError
from dockyard.oci import Digest, Reference

__all__ = ["TRANSPORTS", "ImageName"]

TRANSPORTS = ("oci", "oci-archive", "docker-archive", "docker")
_OCI_REF_NAME = re.compile(r"[A-Za-z0-9._:@/+-]+")
_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")


@dataclass(frozen=True, slots=True)
class ImageName:
    """Where an image is: a transport and its location.

    * ``oci``: ``path`` and optional ``tag`` (the layout's ref.name)
    * ``oci-archive``: ``path`` and optional ``tag``
    * ``docker-archive``: ``path`` and optional ``tag`` (a reference, or ``@N``)
    * ``docker``: ``reference`` (a registry)
    * ``local``: ``reference`` (a bare name: the local store first, then the registry)
    * ``id``: ``digest`` (``sha256:…``: an image of the local store by manifest digest
      or image ID, as ``dockyard build`` prints them and ``docker inspect`` takes them)
    """

    transport: str
    text: str
    path: Path | None = None
    tag: str | None = None
    reference: Reference | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> ImageName:
        """Parse a name as ``skopeo copy`` takes it; InvalidReferenceError/UsageError if bad."""
        if not text:
            raise UsageError("empty image name")
        if text.startswith("docker://"):
            return cls("docker", text, reference=_reference(text[len("docker://") :], text))
        prefix, sep, rest = text.partition(":")
        if sep and prefix in ("oci", "oci-archive", "docker-archive"):
            path, colon, tag = rest.partition(":")
            if not path:
                raise UsageError(f"{text!r}: missing the path", hint=f"use {prefix}:PATH[:TAG]")
            if colon and not tag:
                raise UsageError(f"{text!r}: empty tag after ':'", hint=f"use {prefix}:PATH[:TAG]")
            tag_value = tag if colon else None
            if tag_value is not None:
                _check_tag(prefix, tag_value, text)
            return cls(prefix, text, path=Path(path), tag=tag_value)
        if sep and prefix in ("docker", "containers-storage", "dir", "docker-daemon"):
            hint = (
                "use docker://REF"
                if prefix == "docker"
                else "supported: " + ", ".join(f"{t}:" for t in TRANSPORTS)
            )
            raise UsageError(f"unsupported image name {text!r}", hint=hint)
        if _IMAGE_ID.fullmatch(text):
            return cls("id", text, digest=Digest.parse(text))
        return cls("local", text, reference=_reference(text, text))

    @property
    def is_registry(self) -> bool:
        return self.transport in ("docker", "local")

    def __str__(self) -> str:
        return self.text


def _reference(value: str, text: str) -> Reference:
    try:
        return Reference.parse(value)
    except InvalidReferenceError as exc:
        raise InvalidReferenceError(
            f"{text!r}: {exc.message}", location=exc.location, hint=exc.hint
        ) from exc


def _check_tag(transport: str, tag: str, text: str) -> None:
    if transport == "docker-archive":
        if tag.startswith("@"):
            if not tag[1:].isdigit():
                raise UsageError(
                    f"{text!r}: @N must be a number", hint="e.g. docker-archive:x.tar:@0"
                )
            return
        _reference(tag, text)
        return
    if not _OCI_REF_NAME.fullmatch(tag):
        raise InvalidReferenceError(
            f"{text!r}: invalid tag {tag!r}",
            hint="tags use letters, digits and . _ - : @ / +",
        )
