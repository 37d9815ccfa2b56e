"""Registry auth as a pure flow: challenges, credentials, bearer tokens (no I/O in the flow)."""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard._httpx import httpx
from dockyard.errors import ConfigError, RegistryAuthError, RegistryProtocolError, UsageError

__all__ = [
    "SCOPE_EXTENSION",
    "Challenge",
    "Credentials",
    "Keychain",
    "RegistryAuth",
    "TokenCache",
    "docker_config_path",
    "load_docker_config",
    "parse_challenges",
]

SCOPE_EXTENSION = "dockyard.scope"
"""Request extension naming the token scope(s) the request needs (space separated)."""

REGISTRY_EXTENSION = "dockyard.registry"
"""Request extension naming the registry a request is for (the key of tokens and credentials)."""

TOKEN_EXTENSION = "dockyard.token-request"  # noqa: S105 - a name, not a secret
"""Marks the requests the auth flow sends to a token endpoint."""

_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAM = re.compile(rf"\s*({_TCHARS})\s*=\s*({_QUOTED}|[^,\s\"]+)\s*(,|$)")
_SCHEME = re.compile(rf"\s*({_TCHARS})(?:\s+|$)")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: a scheme and its parameters (keys lowercased)."""

    scheme: str  # lowercased: "basic", "bearer", ...
    params: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scope(self) -> str:
        return self.params.get("scope", "")


def _unquote(value: str) -> str:
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into its challenges (RFC 7235, leniently).

    ``Bearer realm="https://auth/token",service="reg",scope="repository:a:pull,push"``
    gives one bearer challenge; several challenges may be separated by commas.
    """
    challenges: list[Challenge] = []
    pos = 0
    text = header.strip()
    while pos < len(text):
        while pos < len(text) and text[pos] in ", \t":
            pos += 1
        if pos >= len(text):
            break
        scheme_match = _SCHEME.match(text, pos)
        if scheme_match is None:
            raise RegistryProtocolError(f"malformed WWW-Authenticate header {header!r}")
        scheme = scheme_match.group(1).lower()
        pos = scheme_match.end()
        params: dict[str, str] = {}
        while pos < len(text):
            param = _PARAM.match(text, pos)
            if param is None:
                break
            # A "token=" that is really the next scheme cannot happen: schemes have no '='.
            params[param.group(1).lower()] = _unquote(param.group(2))
            pos = param.end()
        if not params and pos < len(text) and _SCHEME.match(text, pos) is None:
            # token68 form (e.g. "Basic abc=="): keep it as-is
            rest = text[pos:].split(",", 1)
            params["token68"] = rest[0].strip()
            pos += len(rest[0]) + 1
        challenges.append(Challenge(scheme, params))
    return challenges


@dataclass(frozen=True, slots=True)
class Credentials:
    """A username and password (or an identity token, sent as the password)."""

    username: str
    password: str = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> Credentials:
        """Parse ``USER[:PASS]`` as ``--creds`` takes it."""
        username, _, password = text.partition(":")
        if not username:
            raise UsageError(
                "invalid --creds value: empty username", hint="use --creds USER[:PASSWORD]"
            )
        return cls(username, password)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def docker_config_path() -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _normalize_host(key: str) -> str:
    """``https://index.docker.io/v1/`` → ``docker.io``; ``http://h:5000/`` → ``h:5000``."""
    host = re.sub(r"^[a-z]+://", "", key.strip()).split("/", 1)[0]
    if host in {"index.docker.io", "registry-1.docker.io"}:
        return "docker.io"
    return host


def load_docker_config(path: Path | None = None) -> dict[str, Credentials]:
    """Credentials per registry host from a docker ``config.json`` (``auths`` entries).

    Credential helpers (``credsStore``/``credHelpers``) are not run: dockyard never executes
    programs named in a config file. Use ``--creds`` or an ``auth`` entry for such registries.
    """
    path = path or docker_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read docker config: {exc.strerror}", location=str(path)) from exc
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"docker config is not valid JSON: {exc.msg} at line {exc.lineno}",
            location=str(path),
            hint="fix or remove the file",
        ) from exc
    auths = data.get("auths") if isinstance(data, dict) else None
    found: dict[str, Credentials] = {}
    if not isinstance(auths, dict):
        return found
    for key, entry in auths.items():
        if not isinstance(entry, dict):
            continue
        creds: Credentials | None = None
        if isinstance(entry.get("auth"), str) and entry["auth"]:
            try:
                decoded = base64.b64decode(entry["auth"], validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    f"the auth entry for {key!r} is not base64 of USER:PASSWORD",
                    location=str(path),
                ) from exc
            user, sep, password = decoded.partition(":")
            if not sep:
                raise ConfigError(
                    f"the auth entry for {key!r} has no ':' between user and password",
                    location=str(path),
                )
            creds = Credentials(user, password)
        elif isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
            creds = Credentials(entry["username"], entry["password"])
        elif isinstance(entry.get("identitytoken"), str):
            creds = Credentials("<token>", entry["identitytoken"])
        if creds is not None:
            found[_normalize_host(key)] = creds
    return found


class Keychain:
    """Where credentials come from: explicit ones (``--creds``) first, then docker's config."""

    def __init__(
        self,
        explicit: Mapping[str, Credentials] | None = None,
        *,
        docker_config: Path | None = None,
        use_docker_config: bool = True,
    ) -> None:
        self._explicit = dict(explicit or {})
        self._config_path = docker_config
        self._use_config = use_docker_config
        self._config: dict[str, Credentials] | None = None
        self._lock = threading.Lock()

    def get(self, registry: str) -> Credentials | None:
        if registry in self._explicit:
            return self._explicit[registry]
        if not self._use_config:
            return None
        with self._lock:
            if self._config is None:
                self._config = load_docker_config(self._config_path)
        return self._config.get(registry)


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires: float


class TokenCache:
    """Bearer tokens per (registry, scope), dropped a little before they expire."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def get(self, registry: str, scope: str) -> str | None:
        with self._lock:
            token = self._tokens.get((registry, scope))
            if token is None or token.expires <= self._clock():
                return None
            return token.value

    def put(self, registry: str, scope: str, value: str, expires_in: float) -> None:
        with self._lock:
            # Refresh 10 s early so a token does not expire in the middle of a request.
            self._tokens[(registry, scope)] = _Token(value, self._clock() + max(expires_in - 10, 1))

    def drop(self, registry: str, scope: str) -> None:
        with self._lock:
            self._tokens.pop((registry, scope), None)


def _replayable(request: httpx.Request) -> bool:
    return isinstance(request.stream, httpx.ByteStream)


class RegistryAuth(httpx.Auth):
    """The auth flow of the distribution spec as an httpx auth generator (no I/O of its own).

    1. Send the request with what we already know (a cached token for its scope, or basic
       credentials for a registry known to want them), else anonymously.
    2. On 401, read the challenge: ``Basic`` → retry once with credentials; ``Bearer`` →
       yield a token request to the realm (with basic credentials if we have some, else
       anonymous), cache the token per (registry, scope) and retry once with it.
    3. A second 401, or a 401 we have nothing to answer with, is returned to the caller,
       which turns it into RegistryAuthError. A request whose body cannot be replayed
       gets the token fetched but is not re-sent: the caller re-sends it.
    """

    requires_response_body = False  # blob bodies must stream; token answers are read below

    def __init__(self, keychain: Keychain, tokens: TokenCache | None = None) -> None:
        self.keychain = keychain
        self.tokens = tokens or TokenCache()
        self._challenges: dict[str, Challenge] = {}
        self._lock = threading.Lock()

    def _known(self, registry: str) -> Challenge | None:
        with self._lock:
            return self._challenges.get(registry)

    def _authorize(self, request: httpx.Request, registry: str, scope: str) -> bool:
        challenge = self._known(registry)
        if challenge is None:
            return False
        if challenge.scheme == "bearer":
            token = self.tokens.get(registry, scope)
            if token is not None:
                request.headers["Authorization"] = f"Bearer {token}"
                return True
            return False
        if challenge.scheme == "basic":
            creds = self.keychain.get(registry)
            if creds is not None:
                request.headers["Authorization"] = creds.basic_header()
                return True
        return False

    def token_request(self, challenge: Challenge, registry: str, scope: str) -> httpx.Request:
        """The GET to the challenge's realm for a token covering ``scope``."""
        if not challenge.realm.startswith(("http://", "https://")):
            raise RegistryProtocolError(
                f"bearer challenge from {registry} has no usable realm {challenge.realm!r}"
            )
        params: list[tuple[str, str | int | float | bool | None]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        params.extend(("scope", s) for s in scope.split() if s)
        headers = {}
        creds = self.keychain.get(registry)
        if creds is not None:
            headers["Authorization"] = creds.basic_header()
        return httpx.Request(
            "GET",
            challenge.realm,
            params=params,
            headers=headers,
            extensions={TOKEN_EXTENSION: True},
        )

    @staticmethod
    def parse_token(response: httpx.Response) -> tuple[str, float]:
        """The token and its lifetime (seconds) from a token endpoint's JSON answer."""
        try:
            data = json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RegistryProtocolError(
                "the token endpoint did not answer JSON", location=str(response.request.url)
            ) from exc
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryProtocolError(
                "the token endpoint answered no token", location=str(response.request.url)
            )
        expires_in = data.get("expires_in", 60)
        if not isinstance(expires_in, int | float) or expires_in <= 0:
            expires_in = 60
        return token, float(max(expires_in, 60))

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Drive :meth:`auth_flow`, reading the body of token answers (and only those)."""
        flow = self.auth_flow(request)
        outgoing = next(flow)
        while True:
            response = yield outgoing
            if outgoing.extensions.get(TOKEN_EXTENSION):
                response.read()
            try:
                outgoing = flow.send(response)
            except StopIteration:
                return

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        registry = str(request.extensions.get(REGISTRY_EXTENSION) or request.url.netloc.decode())
        scope = str(request.extensions.get(SCOPE_EXTENSION, ""))
        self._authorize(request, registry, scope)
        response = yield request
        if response.status_code != 401:
            return
        header = response.headers.get("WWW-Authenticate", "")
        challenges = parse_challenges(header) if header else []
        chosen = next((c for c in challenges if c.scheme == "bearer"), None) or next(
            (c for c in challenges if c.scheme == "basic"), None
        )
        if chosen is None:
            return
        with self._lock:
            self._challenges[registry] = chosen
        if chosen.scheme == "basic":
            creds = self.keychain.get(registry)
            if creds is None or "Authorization" in request.headers or not _replayable(request):
                return
            request.headers["Authorization"] = creds.basic_header()
            yield request
            return
        token_scope = scope or chosen.scope
        token_response = yield self.token_request(chosen, registry, token_scope)
        if token_response.status_code in (401, 403):
            raise RegistryAuthError(
                f"the token server refused credentials for {registry} "
                f"(HTTP {token_response.status_code})",
                location=str(token_response.request.url),
                hint="check --creds or the auths entry in your docker config.json",
            )
        if token_response.status_code != 200:
            raise RegistryAuthError(
                f"the token server answered HTTP {token_response.status_code}",
                location=str(token_response.request.url),
            )
        token, expires_in = self.parse_token(token_response)
        self.tokens.put(registry, token_scope, token, expires_in)
        if not _replayable(request):
            return
        request.headers["Authorization"] = f"Bearer {token}"
        yield request
