"""Pages outside the admin's own screens (the admin links to them)."""
