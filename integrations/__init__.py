"""One package per external system Linx talks to: its client, errors, records and sandbox."""
