"""Image sources and sinks: the Image interface, OCI layouts, OCI and docker archives."""

from dockyard.image.base import Image, ImageIndex, ImageSink, VerifyingReader
from dockyard.image.content import ContentImage, ContentIndex, child_of, select_platform, walk
from dockyard.image.dockerarchive import DockerArchive, DockerArchiveSink
from dockyard.image.layout import LayoutSink, OCILayout
from dockyard.image.ociarchive import OCIArchive, OCIArchiveSink

__all__ = [
    "ContentImage",
    "ContentIndex",
    "DockerArchive",
    "DockerArchiveSink",
    "Image",
    "ImageIndex",
    "ImageSink",
    "LayoutSink",
    "OCIArchive",
    "OCIArchiveSink",
    "OCILayout",
    "VerifyingReader",
    "child_of",
    "select_platform",
    "walk",
]
