"""Tests: the real PostgreSQL and Redis from prm.devservices, fast hashing."""

from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES["default"]["KEY_PREFIX"] = "prm-test"  # noqa: F405
CELERY_TASK_ALWAYS_EAGER = False
