"""Image sources and sinks: the Image interface, OCI layouts, OCI and docker archives."""
