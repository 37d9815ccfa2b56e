"""Pure OCI values: digests, descriptors, platforms, manifests, indexes, configs, references."""
