"""Development: debug on, console e-mail, embedded servers (see prm.devservices)."""

from .base import *  # noqa: F403

DEBUG = env_bool("DEBUG", True)  # noqa: F405
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
# Serve static files straight from the app folders; no collectstatic needed.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
