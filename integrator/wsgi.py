"""WSGI entry point (gunicorn integrator.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integrator.settings")
application = get_wsgi_application()
