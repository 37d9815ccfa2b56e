"""The local content-addressed store under $DOCKYARD_HOME: blobs, tags, cache."""
