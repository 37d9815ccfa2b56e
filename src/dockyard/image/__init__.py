"""Image sources and sinks: the Image interface, OCI layouts, OCI and docker archives."""

from dockyard.image.base import Image, ImageIndex, ImageSink, VerifyingReader

__all__ = ["Image", "ImageIndex", "ImageSink", "VerifyingReader"]
