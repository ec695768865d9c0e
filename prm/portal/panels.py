"""Home-page panels contributed by other apps.

The portal home shows the partner's organisation, tier and team, then every
registered panel in ``order``. An app adds one from its ``AppConfig.ready()``::

    from prm.portal.panels import Panel, register

    register(Panel(key="deals", template="deals/_home_panel.html",
                   context=deals_home_context, order=20))

``context(request)`` reads through the app's selectors and returns the
panel's template context (available as ``data``), or ``None`` to leave the
panel out for this person. Panels render inside the home page's grid, so
each template is one ``<section class="card">``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest


@dataclass(frozen=True)
class Panel:
    key: str
    template: Any  # a template name, or a Template object
    context: Callable[[HttpRequest], dict | None]
    order: int = 100


@dataclass(frozen=True)
class RenderablePanel:
    key: str
    template: Any
    data: dict


_registry: dict[str, Panel] = {}


def register(panel: Panel) -> None:
    _registry[panel.key] = panel


def unregister(key: str) -> None:
    _registry.pop(key, None)


def panels_for(request: HttpRequest) -> list[RenderablePanel]:
    rendered = []
    for panel in sorted(_registry.values(), key=lambda p: (p.order, p.key)):
        data = panel.context(request)
        if data is not None:
            rendered.append(RenderablePanel(key=panel.key, template=panel.template, data=data))
    return rendered
