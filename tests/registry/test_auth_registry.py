"""Auth against the real registry behind a small loopback token server (bearer + basic)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from pathlib import Path

import httpx
import pytest

from dockyard.errors import RegistryAuthError
from dockyard.oci import Reference
from dockyard.registry import Credentials, RegistryClient, RegistrySink, open_remote
from tests.conftest import Registry
from tests.registry.conftest import FAST_RETRY
from tests.registry.faultproxy import Fault, FaultProxy, ProxyRequest, ProxyResponse
from tests.registry.images import LayoutImage

pytestmark = pytest.mark.registry

USER, PASSWORD = "ci-bot", "s3cret:with:colons"


class TokenGate:
    """A token server in the proxy: pulls are open (anonymous tokens), pushes need USER."""

    def __init__(self, proxy: FaultProxy, *, basic_only: bool = False) -> None:
        self.proxy = proxy
        self.basic_only = basic_only
        self.tokens: dict[str, set[str]] = {}
        self.token_requests = 0
        self._lock = threading.Lock()

    def _user(self, headers: dict[str, str]) -> str | None:
        value = headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user if (user, password) == (USER, PASSWORD) else "<bad>"

    def __call__(self, request: ProxyRequest) -> ProxyResponse | None:
        url = httpx.URL(request.path)
        if url.path == "/token":
            return self._token(request, url)
        match = re.match(r"/v2/(.+?)/(manifests|blobs|tags)/", url.path)
        action = "pull" if request.method in ("GET", "HEAD") else "push"
        scope = f"repository:{match.group(1)}:{action}" if match else ""
        if self.basic_only:
            if self._user(request.headers) == USER:
                return None
            return ProxyResponse(401, b"{}", {"WWW-Authenticate": 'Basic realm="gate"'})
        value = request.headers.get("authorization", "")
        with self._lock:
            granted = self.tokens.get(value.removeprefix("Bearer "), set())
        if value.startswith("Bearer ") and (not scope or scope in granted):
            return None
        challenge = f'Bearer realm="http://{self.proxy.host}/token",service="gate"'
        if scope:
            challenge += f',scope="{scope}"'
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        return ProxyResponse(401, body, {"WWW-Authenticate": challenge})

    def _token(self, request: ProxyRequest, url: httpx.URL) -> ProxyResponse:
        with self._lock:
            self.token_requests += 1
        user = self._user(request.headers)
        if user == "<bad>":
            return ProxyResponse(401, b'{"details":"bad credentials"}')
        granted: set[str] = set()
        for scope in url.params.get_list("scope"):
            _, repo, actions = scope.split(":")
            for action in actions.split(","):
                if action == "pull" or user == USER:
                    granted.add(f"repository:{repo}:{action}")
        token = secrets.token_hex(16)
        with self._lock:
            self.tokens[token] = granted
        return ProxyResponse(200, json.dumps({"token": token, "expires_in": 300}).encode())


@pytest.fixture
def gate(fault_proxy: FaultProxy) -> TokenGate:
    gate = TokenGate(fault_proxy)
    fault_proxy.add(Fault("handle", handler=gate))
    return gate


def client_with(creds: Credentials | None, host: str, **kwargs: object) -> RegistryClient:
    return RegistryClient(
        retry=FAST_RETRY,
        credentials={host: creds} if creds else None,
        **kwargs,  # type: ignore[arg-type]
    )


def test_push_with_creds_and_pull_anonymously(
    gate: TokenGate, fault_proxy: FaultProxy, busybox: LayoutImage
) -> None:
    target = Reference.parse(f"{fault_proxy.host}/auth/busybox:1")
    with client_with(Credentials(USER, PASSWORD), fault_proxy.host) as client:
        RegistrySink(client, target).write(busybox)
        RegistrySink(client, target).write(busybox)  # second time: tokens come from the cache
    assert gate.token_requests <= 4
    with client_with(None, fault_proxy.host, use_docker_config=False) as anonymous:
        image = open_remote(anonymous, target, None)
        assert image.digest == busybox.digest
        assert image.config().raw == busybox.config_bytes()  # type: ignore[union-attr]


def test_push_without_creds_is_refused_with_a_hint(
    gate: TokenGate, fault_proxy: FaultProxy, busybox: LayoutImage
) -> None:
    target = Reference.parse(f"{fault_proxy.host}/auth/nocreds:1")
    with client_with(None, fault_proxy.host, use_docker_config=False) as client:
        with pytest.raises(RegistryAuthError) as info:
            RegistrySink(client, target).write(busybox)
    assert "--creds" in (info.value.hint or "")


def test_wrong_password_is_refused(
    gate: TokenGate, fault_proxy: FaultProxy, busybox: LayoutImage
) -> None:
    target = Reference.parse(f"{fault_proxy.host}/auth/wrong:1")
    with client_with(Credentials(USER, "nope"), fault_proxy.host) as client:
        with pytest.raises(RegistryAuthError, match="refused"):
            RegistrySink(client, target).write(busybox)


def test_creds_from_docker_config(
    gate: TokenGate,
    fault_proxy: FaultProxy,
    busybox: LayoutImage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "dockercfg"
    config.mkdir()
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {fault_proxy.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    target = Reference.parse(f"{fault_proxy.host}/auth/fromconfig:1")
    with RegistryClient(retry=FAST_RETRY) as client:
        RegistrySink(client, target).write(busybox)
        assert client.head_manifest(target) is not None


def test_basic_auth_registry(
    fault_proxy: FaultProxy, registry: Registry, busybox: LayoutImage
) -> None:
    fault_proxy.add(Fault("handle", handler=TokenGate(fault_proxy, basic_only=True)))
    target = Reference.parse(f"{fault_proxy.host}/auth/basic:1")
    with client_with(Credentials(USER, PASSWORD), fault_proxy.host) as client:
        RegistrySink(client, target).write(busybox)
    accept = {"Accept": busybox.manifest.media_type}
    assert (
        httpx.head(f"{registry.url}/v2/auth/basic/manifests/1", headers=accept).status_code == 200
    )
    with client_with(None, fault_proxy.host, use_docker_config=False) as client:
        with pytest.raises(RegistryAuthError, match="HTTP 401"):
            client.get_manifest(target)
