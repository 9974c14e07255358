"""WSGI entry point, e.g. `gunicorn linx.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linx.settings")

application = get_wsgi_application()
