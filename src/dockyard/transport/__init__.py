"""Skopeo-style image names resolved to sources and sinks, and copies between them."""

from dockyard.transport.names import TRANSPORTS, ImageName
from dockyard.transport.transport import (
    CopyResult,
    TransportOptions,
    copy,
    inspect,
    open_sink,
    open_source,
)

__all__ = [
    "TRANSPORTS",
    "CopyResult",
    "ImageName",
    "TransportOptions",
    "copy",
    "inspect",
    "open_sink",
    "open_source",
]
