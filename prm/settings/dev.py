"""Development: debug on, console e-mail, embedded servers (see prm.devservices)."""

from .base import *  # noqa: F403

DEBUG = env_bool("DEBUG", True)  # noqa: F405
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
