"""Pure OCI values: digests, descriptors, platforms, manifests, indexes, configs, references."""

from dockyard.oci import mediatypes
from dockyard.oci.config import ContainerConfig, HistoryEntry, ImageConfig
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, Verifier
from dockyard.oci.manifest import Index, Manifest, canonical_json, parse_manifest
from dockyard.oci.platform import Platform
from dockyard.oci.reference import DEFAULT_REGISTRY, DEFAULT_TAG, Reference

__all__ = [
    "DEFAULT_REGISTRY",
    "DEFAULT_TAG",
    "ContainerConfig",
    "Descriptor",
    "Digest",
    "HistoryEntry",
    "ImageConfig",
    "Index",
    "Manifest",
    "Platform",
    "Reference",
    "Verifier",
    "canonical_json",
    "mediatypes",
    "parse_manifest",
]
