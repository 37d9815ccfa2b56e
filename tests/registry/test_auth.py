"""The auth flow without a network: challenge parsing, docker config, the generator flow."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from dockyard.errors import ConfigError, RegistryAuthError, RegistryProtocolError, UsageError
from dockyard.registry import (
    Credentials,
    Keychain,
    RegistryAuth,
    TokenCache,
    load_docker_config,
    parse_challenges,
)
from dockyard.registry.auth import REGISTRY_EXTENSION, SCOPE_EXTENSION


def test_parse_bearer_challenge() -> None:
    [c] = parse_challenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull,push"'
    )
    assert c.scheme == "bearer"
    assert c.realm == "https://auth.docker.io/token"
    assert c.service == "registry.docker.io"
    assert c.scope == "repository:library/busybox:pull,push"


def test_parse_quoted_escapes_spaces_and_case() -> None:
    [c] = parse_challenges('BEARER  Realm = "http://x/t?a=1,b" , error="insufficient \\"scope\\""')
    assert c.scheme == "bearer"
    assert c.realm == "http://x/t?a=1,b"
    assert c.params["error"] == 'insufficient "scope"'


def test_parse_several_challenges_and_unquoted_values() -> None:
    challenges = parse_challenges('Basic realm="Registry Realm", Bearer realm=http://a/t,service=s')
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].realm == "Registry Realm"
    assert challenges[1].params == {"realm": "http://a/t", "service": "s"}


def test_parse_bare_scheme_and_garbage() -> None:
    assert parse_challenges("Basic")[0].scheme == "basic"
    assert parse_challenges("") == []
    with pytest.raises(RegistryProtocolError):
        parse_challenges("=broken")


def test_credentials_parse() -> None:
    assert Credentials.parse("me:s3:cret") == Credentials("me", "s3:cret")
    assert Credentials.parse("me") == Credentials("me", "")
    with pytest.raises(UsageError):
        Credentials.parse(":pw")
    assert "s3" not in repr(Credentials("me", "s3"))


def _write_config(directory: Path, data: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_docker_config_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = base64.b64encode(b"alice:pa:ss").decode()
    _write_config(
        tmp_path / "cfg",
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": auth},
                "127.0.0.1:5000": {"username": "bob", "password": "pw"},
                "http://reg.example:8080/": {"auth": auth},
                "empty.example": {},
            },
            "credsStore": "desktop",
        },
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    found = load_docker_config()
    assert found["docker.io"] == Credentials("alice", "pa:ss")
    assert found["127.0.0.1:5000"] == Credentials("bob", "pw")
    assert found["reg.example:8080"] == Credentials("alice", "pa:ss")
    assert "empty.example" not in found


def test_docker_config_missing_and_malformed(tmp_path: Path) -> None:
    assert load_docker_config(tmp_path / "none.json") == {}
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_docker_config(bad)
    bad.write_text(json.dumps({"auths": {"h": {"auth": "!!!"}}}))
    with pytest.raises(ConfigError, match="not base64"):
        load_docker_config(bad)
    bad.write_text(json.dumps({"auths": {"h": {"auth": base64.b64encode(b"nocolon").decode()}}}))
    with pytest.raises(ConfigError, match="no ':'"):
        load_docker_config(bad)


def test_keychain_prefers_explicit(tmp_path: Path) -> None:
    path = _write_config(tmp_path, {"auths": {"h:1": {"username": "cfg", "password": "x"}}})
    chain = Keychain({"h:1": Credentials("flag", "y")}, docker_config=path)
    assert chain.get("h:1") == Credentials("flag", "y")
    assert Keychain(docker_config=path).get("h:1") == Credentials("cfg", "x")
    assert Keychain(docker_config=path, use_docker_config=False).get("h:1") is None


def _request(scope: str = "repository:a/b:pull") -> httpx.Request:
    return httpx.Request(
        "GET",
        "http://reg:5000/v2/a/b/manifests/1",
        extensions={SCOPE_EXTENSION: scope, REGISTRY_EXTENSION: "reg:5000"},
    )


BEARER = 'Bearer realm="http://auth:1/token",service="reg",scope="repository:a/b:pull"'


def test_bearer_flow_anonymous_then_cached() -> None:
    auth = RegistryAuth(Keychain(use_docker_config=False))
    flow = auth.sync_auth_flow(_request())
    first = next(flow)
    assert "Authorization" not in first.headers
    token_request = flow.send(httpx.Response(401, headers={"WWW-Authenticate": BEARER}))
    assert token_request.url.host == "auth"
    assert token_request.url.params.get_list("scope") == ["repository:a/b:pull"]
    assert token_request.url.params["service"] == "reg"
    assert "Authorization" not in token_request.headers
    retried = flow.send(httpx.Response(200, json={"token": "T1", "expires_in": 300}))
    assert retried.headers["Authorization"] == "Bearer T1"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200))
    # the next request with the same scope goes out with the cached token
    again = next(auth.sync_auth_flow(_request()))
    assert again.headers["Authorization"] == "Bearer T1"
    # another scope does not reuse it
    other = next(auth.sync_auth_flow(_request("repository:a/b:pull,push")))
    assert "Authorization" not in other.headers


def test_bearer_flow_sends_basic_credentials_to_the_token_server() -> None:
    auth = RegistryAuth(Keychain({"reg:5000": Credentials("u", "p")}, use_docker_config=False))
    flow = auth.sync_auth_flow(_request("repository:a/b:pull,push repository:c:pull"))
    next(flow)
    token_request = flow.send(httpx.Response(401, headers={"WWW-Authenticate": BEARER}))
    assert token_request.headers["Authorization"] == Credentials("u", "p").basic_header()
    assert token_request.url.params.get_list("scope") == [
        "repository:a/b:pull,push",
        "repository:c:pull",
    ]
    retried = flow.send(httpx.Response(200, json={"access_token": "T2"}))
    assert retried.headers["Authorization"] == "Bearer T2"


def test_token_server_refusal_is_an_auth_error() -> None:
    auth = RegistryAuth(Keychain({"reg:5000": Credentials("u", "bad")}, use_docker_config=False))
    flow = auth.sync_auth_flow(_request())
    next(flow)
    token_request = flow.send(httpx.Response(401, headers={"WWW-Authenticate": BEARER}))
    with pytest.raises(RegistryAuthError, match="refused"):
        flow.send(httpx.Response(401, request=token_request))


def test_malformed_token_answer_is_a_protocol_error() -> None:
    auth = RegistryAuth(Keychain(use_docker_config=False))
    flow = auth.sync_auth_flow(_request())
    next(flow)
    token_request = flow.send(httpx.Response(401, headers={"WWW-Authenticate": BEARER}))
    with pytest.raises(RegistryProtocolError, match="no token"):
        flow.send(httpx.Response(200, json={"nope": 1}, request=token_request))


def test_basic_flow_retries_once_with_credentials() -> None:
    auth = RegistryAuth(Keychain({"reg:5000": Credentials("u", "p")}, use_docker_config=False))
    flow = auth.sync_auth_flow(_request())
    next(flow)
    retried = flow.send(httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'}))
    assert retried.headers["Authorization"] == Credentials("u", "p").basic_header()
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'}))
    # now known to want basic: sent up front
    assert next(auth.sync_auth_flow(_request())).headers["Authorization"].startswith("Basic ")


def test_basic_challenge_without_credentials_returns_the_401() -> None:
    auth = RegistryAuth(Keychain(use_docker_config=False))
    flow = auth.sync_auth_flow(_request())
    next(flow)
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'}))


def test_streamed_body_is_not_replayed() -> None:
    auth = RegistryAuth(Keychain(use_docker_config=False))
    request = httpx.Request(
        "PUT",
        "http://reg:5000/v2/a/b/blobs/uploads/x",
        content=iter([b"data"]),
        extensions={SCOPE_EXTENSION: "repository:a/b:pull,push", REGISTRY_EXTENSION: "reg:5000"},
    )
    flow = auth.sync_auth_flow(request)
    next(flow)
    token_request = flow.send(httpx.Response(401, headers={"WWW-Authenticate": BEARER}))
    with pytest.raises(StopIteration):  # the token is cached; the caller re-sends
        flow.send(httpx.Response(200, json={"token": "T3"}, request=token_request))
    assert auth.tokens.get("reg:5000", "repository:a/b:pull,push") == "T3"


def test_token_cache_expiry() -> None:
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    cache.put("r", "s", "tok", 300)
    assert cache.get("r", "s") == "tok"
    now[0] += 295
    assert cache.get("r", "s") is None  # refreshed 10 s before it expires
