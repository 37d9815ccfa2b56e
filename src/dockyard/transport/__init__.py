"""skopeo-style transport names (oci:, docker://, docker-archive:, ...) resolved to image sources and sinks."""
