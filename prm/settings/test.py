"""Tests: the real PostgreSQL and Redis from prm.devservices, fast hashing.

``PRM_TEST_DB_NAME`` and ``PRM_TEST_REDIS_DB`` let several test runs share one
server without touching each other's data.
"""

import os
from urllib.parse import urlsplit, urlunsplit

from .base import *  # noqa: F403


def _redis_db(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("PRM_TEST_DB_NAME", "test_prm")}  # noqa: F405
_TEST_REDIS = _redis_db(REDIS_URL, os.environ.get("PRM_TEST_REDIS_DB", "1"))  # noqa: F405
CACHES["default"]["LOCATION"] = _TEST_REDIS  # noqa: F405
CELERY_BROKER_URL = _TEST_REDIS
CELERY_RESULT_BACKEND = _TEST_REDIS
# Serve static files straight from the app folders; no collectstatic needed.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
