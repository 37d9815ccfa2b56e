"""The local content-addressed store under $DOCKYARD_HOME: blobs, tags, images, gc."""

from dockyard.store.store import GCResult, Store, StoreEntry, StoreSink, default_home

__all__ = ["GCResult", "Store", "StoreEntry", "StoreSink", "default_home"]
