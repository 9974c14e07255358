"""The real clients against the real sandbox servers over loopback."""
