"""ADD <url>: download a remote file once per build, verified against --checksum when given."""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import BuildError, IntegrityError, UsageError
from dockyard.oci import Digest

__all__ = ["Download", "download", "is_url"]


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class Download:
    """A downloaded file: where it is, its digest, the name ADD gives it and its mtime."""

    url: str
    path: Path
    digest: Digest
    filename: str
    mtime: float | None


def download(url: str, directory: Path, *, checksum: str | None = None) -> Download:
    """Fetch ``url`` into ``directory``; IntegrityError when ``checksum`` does not match."""
    import tempfile
    import urllib.parse

    from dockyard._httpx import httpx  # only builds that ADD a URL pay for these

    expected = None
    if checksum:
        try:
            expected = Digest.parse(checksum)
        except UsageError as exc:  # pragma: no cover - Digest raises InputError subclasses
            raise UsageError(f"invalid --checksum {checksum!r}") from exc
    name = posixpath.basename(urllib.parse.urlparse(url).path.rstrip("/")) or "__unnamed__"
    directory.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=directory, prefix="add-", delete=False)  # noqa: SIM115 - renamed below
    path = Path(handle.name)
    algorithm = expected.algorithm if expected else "sha256"
    hasher = hashlib.new(algorithm)
    try:
        with (
            handle,
            httpx.stream(
                "GET", url, follow_redirects=True, timeout=httpx.Timeout(60.0, connect=10.0)
            ) as response,
        ):
            if response.status_code != 200:
                raise BuildError(
                    f"ADD {url}: the server answered {response.status_code}", hint="check the URL"
                )
            for chunk in response.iter_bytes(1 << 20):
                hasher.update(chunk)
                handle.write(chunk)
            modified = response.headers.get("last-modified")
    except httpx.HTTPError as exc:
        path.unlink(missing_ok=True)
        raise BuildError(f"ADD {url}: download failed: {exc}") from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    digest = Digest(algorithm, hasher.hexdigest())
    if expected is not None and digest != expected:
        path.unlink(missing_ok=True)
        raise IntegrityError(f"ADD {url}: digest mismatch: expected {expected}, got {digest}")
    mtime = None
    if modified:
        import email.utils

        parsed = email.utils.parsedate_to_datetime(modified)
        mtime = parsed.timestamp() if parsed is not None else None
    return Download(url, path, digest, name, mtime)
