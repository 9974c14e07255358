#!/usr/bin/env python
"""Linx's command line: `python manage.py help` lists the linx_* commands."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linx.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A configuration mistake is the operator's to fix: say what, not a traceback.
        sys.stderr.write(f"Linx is not configured correctly: {error}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
