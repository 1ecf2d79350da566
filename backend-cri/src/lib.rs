//! staticpod backend for cri (not yet implemented).
