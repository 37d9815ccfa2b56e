"""OCI Distribution client: auth, pull, push, retries, mirrors."""
