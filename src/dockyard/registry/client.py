"""The OCI Distribution client: manifests, blobs, uploads, tags; with auth, retries and mirrors."""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn, TypeVar

from httpcore._sync.http11 import HTTP11Connection

from dockyard._httpx import httpx
from dockyard._version import __version__
from dockyard.errors import (
    IntegrityError,
    InvalidDigestError,
    NotFoundError,
    RegistryAuthError,
    RegistryError,
    RegistryProtocolError,
    RegistryUnavailableError,
)
from dockyard.oci import Descriptor, Digest, Index, Manifest, Reference, Verifier, parse_manifest
from dockyard.oci import mediatypes as mt
from dockyard.progress import NULL_SINK, Event, EventKind, ProgressSink
from dockyard.registry.auth import (
    REGISTRY_EXTENSION,
    SCOPE_EXTENSION,
    Credentials,
    Keychain,
    RegistryAuth,
)
from dockyard.registry.retry import RETRYABLE_STATUS, RetryPolicy, parse_retry_after

__all__ = [
    "MANIFEST_ACCEPT",
    "BlobSource",
    "FetchedManifest",
    "RegistryClient",
    "is_loopback",
]

T = TypeVar("T")

MANIFEST_ACCEPT = ", ".join(
    [mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST]
)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # containerd's limit
IO_CHUNK = 1024 * 1024
PROGRESS_STEP = 4 * 1024 * 1024

BlobSource = Path | bytes | Callable[[], BinaryIO]
"""What to upload: a file, bytes in memory, or a function that opens a fresh stream
(called again when an upload has to start over)."""

_TRANSPORT_ERRORS = (httpx.TransportError,)

# httpcore reads 64 KiB per recv(); blobs are large, and 1 MiB reads cut the Python work per
# byte of a download by a third (bench/bench_registry.py). Only ever raised, process-wide.
HTTP11Connection.READ_NUM_BYTES = max(HTTP11Connection.READ_NUM_BYTES, IO_CHUNK)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (``name[:port]`` or ``[v6]:port``) is on loopback."""
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    """A manifest or index as the registry served it, verified against its digest."""

    raw: bytes
    media_type: str
    digest: Digest

    def parse(self) -> Manifest | Index:
        return parse_manifest(self.raw, self.media_type or None)

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw))


def _error_detail(response: httpx.Response) -> str:
    """The registry's error codes (``MANIFEST_UNKNOWN: ...``), or a hint at what it sent."""
    try:
        body = response.read()
    except httpx.HTTPError:
        return ""
    if not body:
        return ""
    if _looks_html(response, body):
        return "the server answered an HTML page"
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return body[:120].decode("utf-8", "replace").strip()
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list):
        parts = [
            f"{e.get('code', '?')}: {e.get('message', '')}".strip()
            for e in errors
            if isinstance(e, dict)
        ]
        return "; ".join(parts)
    return ""


def _looks_html(response: httpx.Response, body: bytes) -> bool:
    ctype = response.headers.get("Content-Type", "").lower()
    return "html" in ctype or body.lstrip()[:1] == b"<"


class _Attempts:
    """Counts tries of one operation against a RetryPolicy; sleeps or gives up."""

    def __init__(self, policy: RetryPolicy, rng: random.Random, what: str, url: str) -> None:
        self.policy = policy
        self.rng = rng
        self.what = what
        self.url = url
        self.count = 0
        self.start = time.monotonic()

    def progressed(self) -> None:
        """Bytes moved forward: the budget (tries and time) starts again from here."""
        self.count = 0
        self.start = time.monotonic()

    def failed(self, reason: str, *, retry_after: float | None = None) -> None:
        """Record a failed try: sleep before the next one, or raise RegistryUnavailableError."""
        self.count += 1
        delay = self.policy.next_delay(
            self.count, time.monotonic() - self.start, retry_after, self.rng
        )
        if delay is None:
            raise RegistryUnavailableError(
                f"{self.what} failed after {self.count} tries: {reason}",
                location=self.url,
                hint="the registry is unreachable or overloaded; try again later, "
                "or configure a mirror",
            )
        time.sleep(delay)


class RegistryClient:
    """A client for registries speaking the OCI Distribution spec (thread-safe).

    ``insecure``: hosts reached over plain HTTP (loopback hosts always are).
    ``mirrors``: per registry host, mirror hosts tried in order before it for reads.
    ``credentials``: per registry host (``--creds``), before ``$DOCKER_CONFIG/config.json``.
    ``chunk_size``: upload blobs in PATCH chunks of this size (None: one monolithic PUT).
    ``jobs``: parallel blob transfers (see :meth:`map`).
    """

    def __init__(
        self,
        *,
        insecure: Iterable[str] = (),
        mirrors: Mapping[str, Sequence[str]] | None = None,
        credentials: Mapping[str, Credentials] | None = None,
        docker_config: Path | None = None,
        use_docker_config: bool = True,
        retry: RetryPolicy | None = None,
        progress: ProgressSink = NULL_SINK,
        jobs: int = 4,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        chunk_size: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.insecure = frozenset(insecure)
        self.mirrors = {k: tuple(v) for k, v in (mirrors or {}).items()}
        self.retry = retry or RetryPolicy()
        self.progress = progress
        self.jobs = max(1, jobs)
        self.chunk_size = chunk_size
        self._rng = random.Random(seed)  # jitter, not crypto
        self.auth = RegistryAuth(
            Keychain(credentials, docker_config=docker_config, use_docker_config=use_docker_config)
        )
        pool = self.jobs * 2 + 4
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            follow_redirects=True,
            headers={"User-Agent": f"dockyard/{__version__}", "Accept-Encoding": "identity"},
        )
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._blob_homes: dict[tuple[str, Digest], str] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(self, func: Callable[[T], object], items: Iterable[T]) -> None:
        """Run ``func`` over ``items`` on at most ``jobs`` threads; re-raise the first error."""
        todo = list(items)
        if len(todo) <= 1 or self.jobs == 1:
            for item in todo:
                func(item)
            return
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.jobs, thread_name_prefix="dockyard-blob")
            executor = self._executor
        futures = [executor.submit(func, item) for item in todo]
        first: BaseException | None = None
        for future in futures:
            exc = future.exception()
            if exc is not None and first is None:
                first = exc
        if first is not None:
            raise first

    # -- blob homes (for cross-repository mounts) ----------------------------------------------

    def remember_blob(self, registry: str, repository: str, digest: Digest) -> None:
        """Note that ``digest`` is in ``registry/repository`` (a mount source for pushes)."""
        with self._lock:
            self._blob_homes[(registry, digest)] = repository

    def blob_home(self, registry: str, digest: Digest) -> str | None:
        with self._lock:
            return self._blob_homes.get((registry, digest))

    # -- plumbing ------------------------------------------------------------------------------

    def base_url(self, host: str) -> str:
        if "://" in host:
            return host.rstrip("/")
        scheme = "http" if host in self.insecure or is_loopback(host) else "https"
        if host == "docker.io":
            host = "registry-1.docker.io"
        return f"{scheme}://{host}"

    def _url(self, host: str, path: str) -> str:
        return self.base_url(host) + path

    def _send_once(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        registry: str,
        scope: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        request = self._http.build_request(
            method,
            url,
            params=params,
            headers=headers,
            content=content,
            extensions={SCOPE_EXTENSION: scope, REGISTRY_EXTENSION: registry},
        )
        return self._http.send(request, auth=self.auth, stream=stream)

    def _request(
        self,
        method: str,
        host: str,
        path: str,
        *,
        scope: str,
        what: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One replayable request with retries; returns any non-retryable answer.

        401/403 become RegistryAuthError; connection errors, timeouts, 429 and 5xx are
        retried under the policy and end as RegistryUnavailableError.
        """
        url = self._url(host, path)
        attempts = _Attempts(self.retry, self._rng, what, url)
        while True:
            try:
                response = self._send_once(
                    method,
                    url,
                    registry=host,
                    scope=scope,
                    params=params,
                    headers=headers,
                    content=content,
                    stream=stream,
                )
            except _TRANSPORT_ERRORS as exc:
                attempts.failed(_describe(exc))
                continue
            if response.status_code in RETRYABLE_STATUS:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                response.close()
                attempts.failed(f"HTTP {response.status_code}", retry_after=retry_after)
                continue
            if response.status_code in (401, 403):
                self._raise_auth(response, host, what)
            return response

    def _raise_auth(self, response: httpx.Response, host: str, what: str) -> NoReturn:
        detail = _error_detail(response)
        have = self.auth.keychain.get(host) is not None
        raise RegistryAuthError(
            f"{what}: access denied (HTTP {response.status_code})"
            + (f": {detail}" if detail else ""),
            location=str(response.request.url),
            hint="the credentials were refused; check --creds or docker login"
            if have
            else f"no credentials for {host}; use --creds USER:PASS or docker login",
        )

    def _unexpected(self, response: httpx.Response, what: str) -> NoReturn:
        """Raise the dockyard error matching an answer we did not expect."""
        detail = _error_detail(response)
        where = str(response.request.url)
        suffix = f": {detail}" if detail else ""
        if response.status_code == 404:
            raise NotFoundError(f"{what}: not found{suffix}", location=where)
        if "DIGEST_INVALID" in detail:
            raise IntegrityError(
                f"{what}: the registry rejected the digest{suffix}", location=where
            )
        hint = None
        if detail == "the server answered an HTML page":
            hint = "is this a registry? check the host name, port and any proxy in between"
        raise RegistryProtocolError(
            f"{what}: unexpected HTTP {response.status_code}{suffix}", location=where, hint=hint
        )

    def _with_mirrors(self, registry: str, op: Callable[[str], T]) -> T:
        """Run a read ``op(host)`` on each mirror in order, then on the registry itself."""
        hosts = [*self.mirrors.get(registry, ()), registry]
        for host in hosts[:-1]:
            try:
                return op(host)
            except IntegrityError:
                raise
            except (RegistryError, NotFoundError) as exc:
                self.progress(
                    Event(f"mirror {host}", EventKind.WARNING, f"skipping mirror {host}: {exc}")
                )
        return op(hosts[-1])

    @staticmethod
    def _scope(repository: str, actions: str = "pull") -> str:
        return f"repository:{repository}:{actions}"

    # -- ping ----------------------------------------------------------------------------------

    def ping(self, registry: str) -> None:
        """Check that ``registry`` speaks the distribution API (``GET /v2/``)."""
        url = self._url(registry, "/v2/")
        attempts = _Attempts(self.retry, self._rng, f"ping {registry}", url)
        while True:
            try:
                response = self._http.get(url)
            except _TRANSPORT_ERRORS as exc:
                attempts.failed(_describe(exc))
                continue
            if response.status_code in RETRYABLE_STATUS:
                attempts.failed(f"HTTP {response.status_code}")
                continue
            break
        if response.status_code in (200, 401):
            if response.status_code == 200 and _looks_html(response, response.content):
                self._unexpected(response, f"ping {registry}")
            return
        self._unexpected(response, f"ping {registry}")

    # -- manifests -----------------------------------------------------------------------------

    def get_manifest(self, ref: Reference, identifier: str | None = None) -> FetchedManifest:
        """Fetch a manifest or index by tag or digest (mirrors first), verified."""
        ident = identifier or ref.identifier
        return self._with_mirrors(ref.registry, lambda host: self._get_manifest(host, ref, ident))

    def _get_manifest(self, host: str, ref: Reference, ident: str) -> FetchedManifest:
        what = f"get manifest {ref.repository}:{ident}"
        attempts = _Attempts(self.retry, self._rng, what, self._url(host, ""))
        while True:
            response = self._request(
                "GET",
                host,
                f"/v2/{ref.repository}/manifests/{ident}",
                scope=self._scope(ref.repository),
                what=what,
                headers={"Accept": MANIFEST_ACCEPT},
                stream=True,
            )
            try:
                if response.status_code != 200:
                    self._unexpected(response, what)
                chunks = _read_limited(response, what)
            except _TRANSPORT_ERRORS as exc:
                attempts.failed(_describe(exc))  # a dropped body: fetch the manifest again
                continue
            finally:
                response.close()
            break
        raw = b"".join(chunks)
        url = str(response.request.url)
        if _looks_html(response, raw):
            raise RegistryProtocolError(
                f"{what}: the server answered an HTML page, not a manifest",
                location=url,
                hint="is this a registry? check the host name, port and any proxy in between",
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        declared = _declared_media_type(raw)
        if media_type not in mt.MANIFEST_TYPES | mt.INDEX_TYPES:
            media_type = declared or media_type
        digest = self._verify_manifest_digest(raw, ident, response, url)
        return FetchedManifest(raw, media_type, digest)

    @staticmethod
    def _verify_manifest_digest(
        raw: bytes, ident: str, response: httpx.Response, url: str
    ) -> Digest:
        expected: Digest | None = None
        if ":" in ident:
            expected = Digest.parse(ident)
        header = response.headers.get("Docker-Content-Digest")
        if expected is None and header:
            try:
                expected = Digest.parse(header)
            except InvalidDigestError as exc:
                raise RegistryProtocolError(
                    f"malformed Docker-Content-Digest header {header!r}", location=url
                ) from exc
        algorithm = expected.algorithm if expected is not None else "sha256"
        actual = Digest.of(raw, algorithm)
        if expected is not None and actual != expected:
            raise IntegrityError(
                f"manifest digest mismatch: expected {expected}, got {actual}",
                location=url,
                hint="the registry or a proxy altered the manifest",
            )
        return actual

    def head_manifest(self, ref: Reference, identifier: str | None = None) -> Descriptor | None:
        """The descriptor of a manifest (HEAD), or None if there is none."""
        ident = identifier or ref.identifier

        def op(host: str) -> Descriptor | None:
            what = f"head manifest {ref.repository}:{ident}"
            response = self._request(
                "HEAD",
                host,
                f"/v2/{ref.repository}/manifests/{ident}",
                scope=self._scope(ref.repository),
                what=what,
                headers={"Accept": MANIFEST_ACCEPT},
            )
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                self._unexpected(response, what)
            header = response.headers.get("Docker-Content-Digest")
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            if not header or media_type not in mt.MANIFEST_TYPES | mt.INDEX_TYPES:
                fetched = self._get_manifest(host, ref, ident)
                return fetched.descriptor()
            size = int(response.headers.get("Content-Length") or 0)
            return Descriptor(media_type, Digest.parse(header), size)

        return self._with_mirrors(ref.registry, op)

    def put_manifest(
        self, ref: Reference, raw: bytes, media_type: str, identifier: str | None = None
    ) -> Digest:
        """Upload a manifest or index under a tag or its digest; return its digest."""
        digest = Digest.of(raw)
        ident = identifier or ref.tag or str(digest)
        what = f"put manifest {ref.repository}:{ident}"
        response = self._request(
            "PUT",
            ref.registry,
            f"/v2/{ref.repository}/manifests/{ident}",
            scope=self._scope(ref.repository, "pull,push"),
            what=what,
            headers={"Content-Type": media_type},
            content=raw,
        )
        if response.status_code not in (200, 201, 202):
            self._unexpected(response, what)
        header = response.headers.get("Docker-Content-Digest")
        if header and header != str(digest):
            raise IntegrityError(
                f"{what}: the registry stored digest {header}, expected {digest}",
                location=str(response.request.url),
            )
        return digest

    def delete_manifest(self, ref: Reference, digest: Digest) -> None:
        """Delete a manifest by digest (the registry must allow deletes)."""
        what = f"delete manifest {ref.repository}@{digest}"
        response = self._request(
            "DELETE",
            ref.registry,
            f"/v2/{ref.repository}/manifests/{digest}",
            scope=self._scope(ref.repository, "delete"),
            what=what,
        )
        if response.status_code in (200, 202):
            return
        if response.status_code == 405:
            raise RegistryProtocolError(
                f"{what}: the registry does not allow deletes",
                location=str(response.request.url),
                hint="enable storage.delete in the registry's configuration",
            )
        self._unexpected(response, what)

    def list_tags(self, ref: Reference, page_size: int | None = None) -> list[str]:
        """Every tag of ``ref``'s repository, following ``Link: <...>; rel="next"`` pages."""
        what = f"list tags of {ref.repository}"
        path = f"/v2/{ref.repository}/tags/list"
        params: dict[str, str] | None = {"n": str(page_size)} if page_size else None
        tags: list[str] = []
        for _ in range(100_000):
            response = self._request(
                "GET",
                ref.registry,
                path,
                scope=self._scope(ref.repository),
                what=what,
                params=params,
            )
            if response.status_code != 200:
                self._unexpected(response, what)
            try:
                data = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise RegistryProtocolError(
                    f"{what}: answer is not JSON", location=str(response.request.url)
                ) from exc
            page = data.get("tags") if isinstance(data, dict) else None
            if page is not None and not (
                isinstance(page, list) and all(isinstance(t, str) for t in page)
            ):
                raise RegistryProtocolError(
                    f"{what}: malformed tag list", location=str(response.request.url)
                )
            tags.extend(page or [])
            nxt = response.links.get("next", {}).get("url")
            if not nxt:
                return tags
            url = httpx.URL(str(response.request.url)).join(nxt)
            path = url.raw_path.decode("ascii").split("?", 1)[0]
            params = dict(url.params)
        raise RegistryProtocolError(f"{what}: too many pages")

    # -- blobs: reading ------------------------------------------------------------------------

    def blob_exists(self, ref: Reference, digest: Digest) -> bool:
        """Whether the repository has the blob (HEAD)."""
        what = f"check blob {digest.short} in {ref.repository}"
        response = self._request(
            "HEAD",
            ref.registry,
            f"/v2/{ref.repository}/blobs/{digest}",
            scope=self._scope(ref.repository),
            what=what,
        )
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        return self._unexpected(response, what)

    def open_blob(self, ref: Reference, descriptor: Descriptor) -> BinaryIO:
        """A stream of the blob, verified against digest and size at its end.

        A dropped connection resumes with ``Range`` (or restarts, skipping what was read);
        content that is complete but wrong raises IntegrityError and is never retried.
        """

        def op(host: str) -> BinaryIO:
            reader = _BlobReader(self, host, ref, descriptor)
            reader.start()
            return io.BufferedReader(reader, IO_CHUNK)

        stream = self._with_mirrors(ref.registry, op)
        self.remember_blob(ref.registry, ref.repository, descriptor.digest)
        return stream

    def get_blob(self, ref: Reference, descriptor: Descriptor) -> bytes:
        """The whole blob in memory (for configs and other small blobs), verified."""
        with self.open_blob(ref, descriptor) as stream:
            return stream.read()

    # -- blobs: writing ------------------------------------------------------------------------

    def mount_blob(self, ref: Reference, digest: Digest, from_repository: str) -> bool:
        """Mount a blob from another repository of the same registry; False if refused."""
        location = self._start_upload(ref, mount=(digest, from_repository))
        if location is None:
            return True
        self._cancel_upload(ref, location)
        return False

    def _start_upload(self, ref: Reference, mount: tuple[Digest, str] | None = None) -> str | None:
        """POST a new upload session; its Location, or None when a mount succeeded."""
        what = f"start upload to {ref.repository}"
        scope = self._scope(ref.repository, "pull,push")
        params = None
        if mount is not None:
            params = {"mount": str(mount[0]), "from": mount[1]}
            scope += " " + self._scope(mount[1])
        response = self._request(
            "POST",
            ref.registry,
            f"/v2/{ref.repository}/blobs/uploads/",
            scope=scope,
            what=what,
            params=params,
            headers={"Content-Length": "0"},
        )
        if response.status_code == 201 and mount is not None:
            return None
        if response.status_code != 202 or "Location" not in response.headers:
            self._unexpected(response, what)
        return str(response.request.url.join(response.headers["Location"]))

    def _begin_upload(self, ref: Reference) -> str:
        location = self._start_upload(ref)
        assert location is not None  # only a mount answers without a session
        return location

    def _cancel_upload(self, ref: Reference, location: str) -> None:
        with contextlib.suppress(httpx.HTTPError):  # an abandoned session expires on its own
            self._send_once(
                "DELETE",
                location,
                registry=ref.registry,
                scope=self._scope(ref.repository, "pull,push"),
            ).close()

    def push_blob(
        self,
        ref: Reference,
        descriptor: Descriptor,
        source: BlobSource,
        *,
        mount_from: str | None = None,
        chunked: bool | None = None,
    ) -> str:
        """Make sure the repository has the blob; return ``"exists"``, ``"mounted"`` or ``"uploaded"``.

        HEAD first; then a cross-repository mount from ``mount_from`` (or a repository of the
        same registry where the blob was seen); else a monolithic PUT or chunked PATCHes.
        """
        task = f"push {descriptor.digest.short}"
        if self.blob_exists(ref, descriptor.digest):
            self.progress(Event(task, EventKind.CACHED, "already exists"))
            return "exists"
        home = mount_from or self.blob_home(ref.registry, descriptor.digest)
        location: str | None
        if home and home != ref.repository:
            location = self._start_upload(ref, mount=(descriptor.digest, home))
            if location is None:
                self.progress(Event(task, EventKind.CACHED, f"mounted from {home}"))
                self.remember_blob(ref.registry, ref.repository, descriptor.digest)
                return "mounted"
        else:
            location = self._begin_upload(ref)
        self.progress(Event(task, EventKind.START, "uploading", 0, descriptor.size))
        use_chunks = self.chunk_size is not None if chunked is None else chunked
        if use_chunks:
            self._upload_chunked(ref, descriptor, source, location, task)
        else:
            self._upload_monolithic(ref, descriptor, source, location, task)
        self.progress(Event(task, EventKind.DONE, "pushed", descriptor.size, descriptor.size))
        self.remember_blob(ref.registry, ref.repository, descriptor.digest)
        return "uploaded"

    def _finish_ok(self, response: httpx.Response, descriptor: Descriptor, what: str) -> None:
        header = response.headers.get("Docker-Content-Digest")
        if header and header != str(descriptor.digest):
            raise IntegrityError(
                f"{what}: the registry stored {header}, expected {descriptor.digest}",
                location=str(response.request.url),
            )

    def _upload_monolithic(
        self,
        ref: Reference,
        descriptor: Descriptor,
        source: BlobSource,
        location: str | None,
        task: str,
    ) -> None:
        what = f"upload blob {descriptor.digest.short} to {ref.repository}"
        attempts = _Attempts(self.retry, self._rng, what, self._url(ref.registry, ""))
        scope = self._scope(ref.repository, "pull,push")
        auth_retried = False
        while True:
            if location is None:
                location = self._begin_upload(ref)
            url = httpx.URL(location).copy_merge_params({"digest": str(descriptor.digest)})
            try:
                with _open_source(source) as stream:
                    response = self._send_once(
                        "PUT",
                        url,
                        registry=ref.registry,
                        scope=scope,
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(descriptor.size),
                        },
                        content=_progress_chunks(stream, self.progress, task, descriptor.size),
                    )
            except _TRANSPORT_ERRORS as exc:
                location = None  # start a fresh session: the old one is in an unknown state
                attempts.failed(_describe(exc))
                continue
            if response.status_code in (201, 204):
                self._finish_ok(response, descriptor, what)
                return
            if response.status_code in RETRYABLE_STATUS:
                location = None
                attempts.failed(
                    f"HTTP {response.status_code}",
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
                continue
            if response.status_code == 401 and not auth_retried:
                auth_retried = True  # the auth flow fetched a fresh token; send again
                location = None
                continue
            if response.status_code in (401, 403):
                self._raise_auth(response, ref.registry, what)
            self._unexpected(response, what)

    def _upload_status(self, ref: Reference, location: str) -> tuple[str, int] | None:
        """The session's Location and the next offset the server expects; None if it is gone."""
        try:
            response = self._send_once(
                "GET",
                location,
                registry=ref.registry,
                scope=self._scope(ref.repository, "pull,push"),
            )
        except _TRANSPORT_ERRORS:
            return None
        if response.status_code != 204:
            return None
        new_location = str(response.request.url.join(response.headers.get("Location", location)))
        return new_location, _range_end(response.headers.get("Range")) or 0

    def _upload_chunked(
        self,
        ref: Reference,
        descriptor: Descriptor,
        source: BlobSource,
        location: str | None,
        task: str,
    ) -> None:
        what = f"upload blob {descriptor.digest.short} to {ref.repository}"
        attempts = _Attempts(self.retry, self._rng, what, self._url(ref.registry, ""))
        scope = self._scope(ref.repository, "pull,push")
        chunk_size = self.chunk_size or 8 * 1024 * 1024
        offset = 0
        stream: BinaryIO | None = None
        stream_pos = 0
        try:
            while True:
                if location is None:
                    location = self._begin_upload(ref)
                    offset = 0
                if offset < descriptor.size:
                    if stream is None or stream_pos != offset:
                        if stream is not None:
                            stream.close()
                        stream = _open_source(source)
                        _skip(stream, offset)
                        stream_pos = offset
                    chunk = stream.read(min(chunk_size, descriptor.size - offset))
                    stream_pos += len(chunk)
                    if not chunk:
                        raise IntegrityError(
                            f"{what}: the source ended at {offset} of {descriptor.size} bytes"
                        )
                    end = offset + len(chunk) - 1
                    try:
                        response = self._send_once(
                            "PATCH",
                            location,
                            registry=ref.registry,
                            scope=scope,
                            headers={
                                "Content-Type": "application/octet-stream",
                                "Content-Range": f"{offset}-{end}",
                            },
                            content=chunk,
                        )
                    except _TRANSPORT_ERRORS as exc:
                        attempts.failed(_describe(exc))
                        location, offset = self._resync(ref, location)
                        continue
                    if response.status_code == 202:
                        location = str(response.request.url.join(response.headers["Location"]))
                        offset = end + 1
                        attempts.progressed()
                        self.progress(Event(task, EventKind.PROGRESS, "", offset, descriptor.size))
                        continue
                    if response.status_code in RETRYABLE_STATUS or response.status_code == 416:
                        attempts.failed(
                            f"HTTP {response.status_code}",
                            retry_after=parse_retry_after(response.headers.get("Retry-After")),
                        )
                        if response.status_code == 416:
                            location = None  # the session lost track: start over
                        else:
                            location, offset = self._resync(ref, location)
                        continue
                    if response.status_code in (401, 403):
                        self._raise_auth(response, ref.registry, what)
                    self._unexpected(response, what)
                url = httpx.URL(location).copy_merge_params({"digest": str(descriptor.digest)})
                try:
                    response = self._send_once(
                        "PUT",
                        url,
                        registry=ref.registry,
                        scope=scope,
                        headers={"Content-Length": "0"},
                        content=b"",
                    )
                except _TRANSPORT_ERRORS as exc:
                    attempts.failed(_describe(exc))
                    if self.blob_exists(ref, descriptor.digest):
                        return  # the PUT went through; only its answer was lost
                    location, offset = self._resync(ref, location)
                    continue
                if response.status_code in (201, 204):
                    self._finish_ok(response, descriptor, what)
                    return
                if response.status_code in RETRYABLE_STATUS:
                    attempts.failed(f"HTTP {response.status_code}")
                    location, offset = self._resync(ref, location)
                    continue
                self._unexpected(response, what)
        finally:
            if stream is not None:
                stream.close()

    def _resync(self, ref: Reference, location: str) -> tuple[str | None, int]:
        """After a failed chunk: where the server says we are, or a fresh session."""
        status = self._upload_status(ref, location)
        if status is None:
            return None, 0
        new_location, end = status
        # Distribution answers "0-0" for an empty session; we never send 1-byte chunks
        # without following them with more, so 0 means nothing stored yet.
        return new_location, end + 1 if end > 0 else 0


def _read_limited(response: httpx.Response, what: str) -> list[bytes]:
    length = int(response.headers.get("Content-Length") or 0)
    if length > MAX_MANIFEST_BYTES:
        raise RegistryProtocolError(
            f"{what}: manifest of {length} bytes is over the 4 MiB limit",
            location=str(response.request.url),
        )
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_raw():
        total += len(chunk)
        if total > MAX_MANIFEST_BYTES:
            raise RegistryProtocolError(
                f"{what}: manifest is over the 4 MiB limit", location=str(response.request.url)
            )
        chunks.append(chunk)
    return chunks


def _declared_media_type(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    value = data.get("mediaType") if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


def _range_end(value: str | None) -> int | None:
    """The end of a ``Range: 0-N`` (or ``bytes=0-N``) header."""
    if not value:
        return None
    _, _, span = value.partition("=") if "=" in value else ("", "", value)
    _, sep, end = span.partition("-")
    if not sep or not end.strip().isdigit():
        return None
    return int(end)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def _open_source(source: BlobSource) -> BinaryIO:
    if isinstance(source, Path):
        return source.open("rb")
    if isinstance(source, bytes):
        return io.BytesIO(source)
    return source()


def _skip(stream: BinaryIO, offset: int) -> None:
    if offset == 0:
        return
    if stream.seekable():
        stream.seek(offset)
        return
    left = offset
    while left:
        data = stream.read(min(left, IO_CHUNK))
        if not data:
            raise IntegrityError(f"the upload source ended before offset {offset}")
        left -= len(data)


def _progress_chunks(
    stream: BinaryIO, progress: ProgressSink, task: str, total: int
) -> Iterator[bytes]:
    done = 0
    reported = 0
    while True:
        data = stream.read(IO_CHUNK)
        if not data:
            return
        done += len(data)
        if done - reported >= PROGRESS_STEP:
            reported = done
            progress(Event(task, EventKind.PROGRESS, "", done, total))
        yield data


class _BlobReader(io.RawIOBase):
    """A verifying, resuming blob download (see RegistryClient.open_blob)."""

    def __init__(
        self, client: RegistryClient, host: str, ref: Reference, descriptor: Descriptor
    ) -> None:
        super().__init__()
        self._client = client
        self._host = host
        self._ref = ref
        self._desc = descriptor
        self._path = f"/v2/{ref.repository}/blobs/{descriptor.digest}"
        self._url = client._url(host, self._path)
        self._what = f"get blob {descriptor.digest.short} from {ref.repository}"
        self._verifier = Verifier(descriptor.digest, descriptor.size)
        self._attempts = _Attempts(client.retry, client._rng, self._what, self._url)
        self._response: httpx.Response | None = None
        self._chunks: Iterator[bytes] = iter(())
        self._buffer = b""
        self._done = False
        self._reported = 0

    def start(self) -> None:
        self._open(0)

    def _open(self, offset: int) -> None:
        headers = {"Range": f"bytes={offset}-"} if offset else None
        response = self._client._request(
            "GET",
            self._host,
            self._path,
            scope=RegistryClient._scope(self._ref.repository),
            what=self._what,
            headers=headers,
            stream=True,
        )
        if response.status_code not in (200, 206):
            try:
                self._client._unexpected(response, self._what)
            finally:
                response.close()
        header = response.headers.get("Docker-Content-Digest")
        if header and header != str(self._desc.digest):
            response.close()
            raise IntegrityError(
                f"{self._what}: the registry says it sent {header}",
                location=str(response.request.url),
            )
        self._response = response
        chunks = response.iter_raw()  # as received, so a cut body keeps what arrived
        if response.status_code == 200 and offset:
            chunks = _drop_prefix(chunks, offset)  # no Range support: skip what we have
        elif response.status_code == 206:
            start = _range_start(response.headers.get("Content-Range"))
            if start != offset:
                response.close()
                raise RegistryProtocolError(
                    f"{self._what}: asked for bytes from {offset}, got a range from {start}",
                    location=str(response.request.url),
                )
        self._chunks = chunks

    def _resume(self, reason: str) -> None:
        if self._response is not None:
            self._response.close()
        offset = self._verifier.count
        self._attempts.failed(f"{reason} at byte {offset} of {self._desc.size}")
        self._open(offset)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            if self._done:
                return 0
            try:
                chunk = next(self._chunks)
            except StopIteration:
                if self._verifier.count < self._desc.size:
                    self._resume("the body ended early")
                    continue
                self._finish()
                return 0
            except _TRANSPORT_ERRORS as exc:
                self._resume(_describe(exc))
                continue
            if not chunk:
                continue
            self._verifier.update(chunk)  # IntegrityError when longer than declared
            self._buffer = chunk
            if self._attempts.count:
                self._attempts.progressed()
            count = self._verifier.count
            if count - self._reported >= PROGRESS_STEP:
                self._reported = count
                self._client.progress(
                    Event(
                        f"pull {self._desc.digest.short}",
                        EventKind.PROGRESS,
                        "",
                        count,
                        self._desc.size,
                    )
                )
        size = min(len(buffer), len(self._buffer))
        buffer[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size

    def _finish(self) -> None:
        self._done = True
        if self._response is not None:
            self._response.close()
        self._verifier.verify(where=self._url)

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        super().close()


def _range_start(value: str | None) -> int | None:
    """The start of ``Content-Range: bytes START-END/TOTAL``."""
    if not value:
        return None
    span = value.split()[-1]
    start = span.split("-", 1)[0]
    return int(start) if start.isdigit() else None


def _drop_prefix(chunks: Iterator[bytes], count: int) -> Iterator[bytes]:
    for chunk in chunks:
        if count >= len(chunk):
            count -= len(chunk)
            continue
        yield chunk[count:]
        count = 0
