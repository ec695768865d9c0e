"""How a notification is said: a kind's templates, rendered in one language.

A notification is stored as a ``kind`` and its ``params`` and rendered when it
is read, rather than stored as finished text in the language of the day it was
sent. The portal speaks whatever language the reader picks with the language
switcher, so the inbox always matches the page around it (a reader who
switches from Malay to English does not get a Malay inbox inside an English
page), and notifications written before a catalogue was translated read
translated once it is. The e-mail copy is rendered from the same templates at
send time in the recipient's language, so both say the same thing.

Kind ``"<app>.<name>"`` has two templates, ``<app>/notifications/<name>_title.txt``
(one line) and ``<app>/notifications/<name>_body.txt``. They are plain text:
rendered without HTML escaping, and escaped wherever they are shown in HTML.
Their context is the params, decoded: dates, datetimes and decimals are stored
tagged in JSON and come back as ``date``/``datetime``/``Decimal``, so the
templates format them with the locale-aware filters. A kind whose templates
are gone renders a neutral sentence instead of failing the inbox.

Params must hold everything the message says: rendering never queries the
database, so an inbox page costs the same whatever its notifications are about.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.template import Context, TemplateDoesNotExist, engines
from django.template.backends.django import DjangoTemplates
from django.utils import translation
from django.utils.translation import gettext as _

_TAGS: dict[str, Callable[[str], Any]] = {
    "$date": date.fromisoformat,
    "$datetime": datetime.fromisoformat,
    "$decimal": Decimal,
}


def encode_params(params: dict[str, Any]) -> dict[str, Any]:
    """Params as JSON-safe values; dates, datetimes and decimals are tagged."""

    def encode(value: Any) -> Any:
        if isinstance(value, datetime):
            return {"$datetime": value.isoformat()}
        if isinstance(value, date):
            return {"$date": value.isoformat()}
        if isinstance(value, Decimal):
            return {"$decimal": str(value)}
        if isinstance(value, dict):
            return {str(k): encode(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [encode(v) for v in value]
        if value is None or isinstance(value, str | int | float | bool):
            return value
        return str(value)

    return {str(key): encode(value) for key, value in params.items()}


def decode_params(params: dict[str, Any]) -> dict[str, Any]:
    def decode(value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                (tag, raw), *_rest = value.items()
                if tag in _TAGS and isinstance(raw, str):
                    return _TAGS[tag](raw)
            return {k: decode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    return {key: decode(value) for key, value in (params or {}).items()}


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str


def template_names(kind: str) -> tuple[str, str]:
    app, _dot, name = kind.partition(".")
    return (f"{app}/notifications/{name}_title.txt", f"{app}/notifications/{name}_body.txt")


def _render(name: str, context: dict[str, Any]) -> str:
    backend = engines["django"]
    assert isinstance(backend, DjangoTemplates)
    template = backend.engine.get_template(name)
    return template.render(Context(context, autoescape=False))


def render(kind: str, params: dict[str, Any], *, language: str | None = None) -> Rendered:
    """The notification's title and body, in ``language`` (default: the active one)."""
    context = decode_params(params)
    title_name, body_name = template_names(kind)
    with translation.override(language or translation.get_language()):
        try:
            title = " ".join(_render(title_name, context).split())
            body = _render(body_name, context).strip()
        except TemplateDoesNotExist:
            return Rendered(title=_("Notification"), body="")
    return Rendered(title=title, body=body)
