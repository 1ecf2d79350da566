//! staticpod backend for podman (not yet implemented).
