"""The OpenAPI schema validates without warnings; the docs pages work offline."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command

pytestmark = pytest.mark.django_db

ATTRIBUTE_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def test_schema_generates_and_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    # --fail-on-warn raises CommandError on any warning or error; --validate
    # checks the result against the OpenAPI 3 JSON schema.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert text.startswith("openapi: 3.")
    for path in (
        "/api/v1/partners/",
        "/api/v1/partners/{id}/assign-tier/",
        "/api/v1/partners/{id}/tier-history/",
        "/api/v1/tiers/",
        "/api/v1/partner-types/",
        "/api/v1/users/",
        "/api/v1/users/invite/",
        "/api/v1/users/{id}/deactivate/",
        "/api/v1/users/{id}/reactivate/",
        "/api/v1/users/{id}/role/",
        "/api/v1/me/",
        "/api/v1/tokens/",
    ):
        assert f"  {path}:" in text, path
    assert "personalToken" in text and "tenantApiKey" in text


def test_schema_is_served_on_a_tenant_host(alpha):
    response = alpha.client("finance").get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    parameters = {p["name"] for p in schema["paths"]["/api/v1/partners/"]["get"]["parameters"]}
    assert {"status", "tier", "partner_type", "country", "search", "ordering"} <= parameters
    assert {"page", "page_size"} <= parameters


def _same_origin_urls(html: str) -> list[str]:
    urls = ATTRIBUTE_URL.findall(html)
    assert urls, "expected the page to load assets"
    assert "//" not in "".join(urls), urls
    assert "http" not in html.lower().replace("http-equiv", ""), "external reference"
    return urls


def _assert_static_exists(url: str) -> None:
    assert url.startswith("/static/"), url
    assert finders.find(url.removeprefix("/static/")), url


def test_swagger_ui_uses_only_vendored_static_files(alpha):
    client = alpha.client("partner_rep")
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = _same_origin_urls(html)
    scripts = [u for u in urls if not u.startswith("/static/")]
    # The page's own initialisation script, served by the same view.
    assert scripts == ["/api/docs/?script="]
    for url in urls:
        if url.startswith("/static/"):
            _assert_static_exists(url)
    assert any("swagger-ui-bundle.js" in u for u in urls)

    script = client.get(scripts[0])
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    body = script.content.decode()
    assert '"/api/schema/"' in body
    assert "https://" not in body and "http://" not in body


def test_redoc_uses_only_vendored_static_files(alpha):
    response = alpha.client("partner_rep").get("/api/redoc/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = _same_origin_urls(html)
    assert "googleapis" not in html
    for url in urls:
        _assert_static_exists(url)
    assert 'spec-url="/api/schema/"' in html
