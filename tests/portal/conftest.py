from tests.portal.fixtures import english, world  # noqa: F401  (shared fixtures)
