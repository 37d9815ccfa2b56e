"""OCI Distribution client: auth, pull, push, retries, mirrors."""

from dockyard.registry.auth import (
    Challenge,
    Credentials,
    Keychain,
    RegistryAuth,
    TokenCache,
    load_docker_config,
    parse_challenges,
)
from dockyard.registry.client import (
    MANIFEST_ACCEPT,
    BlobSource,
    FetchedManifest,
    RegistryClient,
    is_loopback,
)
from dockyard.registry.remote import RegistrySink, RemoteImage, RemoteIndex, open_remote
from dockyard.registry.retry import RetryPolicy, parse_retry_after

__all__ = [
    "MANIFEST_ACCEPT",
    "BlobSource",
    "Challenge",
    "Credentials",
    "FetchedManifest",
    "Keychain",
    "RegistryAuth",
    "RegistryClient",
    "RegistrySink",
    "RemoteImage",
    "RemoteIndex",
    "RetryPolicy",
    "TokenCache",
    "is_loopback",
    "load_docker_config",
    "open_remote",
    "parse_challenges",
    "parse_retry_after",
]
