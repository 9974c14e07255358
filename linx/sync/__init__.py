"""The sync engine: runs, mapping rules, pre-import, import and export."""
