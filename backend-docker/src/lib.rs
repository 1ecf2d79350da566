//! staticpod backend for docker (not yet implemented).
