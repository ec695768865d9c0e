"""Fixtures for the payout API tests: tenant A's API world with the payout story
told (``tests.api_incentives.story``), and tenant B's plain world."""

from __future__ import annotations

import pytest

from tests.api.conftest import build_world
from tests.api_incentives.story import Story, tell_story


@pytest.fixture
def story(tenant_a) -> Story:
    return tell_story(build_world(tenant_a))


@pytest.fixture
def bravo_story(tenant_b) -> Story:
    return tell_story(build_world(tenant_b))
