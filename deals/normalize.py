"""Normalised company names and domains for deal-registration duplicate detection.

Pure Python, no database and no third-party packages, so the same rules serve
services, imports, jobs and tests. What the functions guarantee:

* ``normalize_company_name`` returns the same string for spellings of one
  company that differ only in case, full-width forms (NFKC), punctuation,
  whitespace, or trailing legal forms in English, Malay and Chinese
  (``Acme Co., Ltd.``, ``ACME INC.``, ``Ａｃｍｅ　Ｓｄｎ．Ｂｈｄ．`` and ``Acme``
  all give ``acme``; ``上海启明信息技术股份有限公司`` gives ``上海启明信息技术``).
  The result holds only letters, digits and the combining marks on them, of
  any script, separated by single spaces, with no spaces between CJK
  characters. It is empty only when the name, in NFKC form, has no letter or
  digit (trademark signs such as ``™`` are not part of a name, though NFKC
  spells them "TM").
* ``domain_of_email`` and ``normalize_domain`` return a lowercase host without
  scheme, user, port, path or trailing dot, with punycode decoded to Unicode,
  or ``""`` when there is no usable host (IP addresses and single-label hosts
  such as ``localhost`` are not usable: they never identify a company).
* ``registrable_domain`` returns the best-effort registrable domain (eTLD+1):
  one label under the public suffix, the suffix taken from a small built-in
  list for the target markets plus the ``com``/``co``/``org``… under a
  two-letter country code pattern, so ``sales.acme.com.my`` gives
  ``acme.com.my`` and ``mail.acme.com`` gives ``acme.com``.
* ``domains_related`` is true only for two company domains that share a
  registrable domain (so a subdomain relates to its parent) or that the
  tenant's aliases map onto the same canonical domain. Free-mail providers
  (``is_free_mail``) never relate to anything.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Mapping
from urllib.parse import urlsplit

# --- company names -----------------------------------------------------------

# Legal forms, written as they look after cleaning (casefolded, dots of
# single-letter abbreviations joined — "L.L.C." is "llc" — other punctuation
# turned into spaces). "Enterprise", "Trading", "Technologies" and the like are
# ordinary name parts and stay.
LATIN_LEGAL_FORMS: frozenset[str] = frozenset(
    {
        # English and international
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "ltd",
        "limited",
        "llc",
        "llp",
        "plc",
        "pte",
        "pty",
        "pvt",
        "private limited",
        "gmbh",
        "sa",
        "kk",
        "kabushiki kaisha",
        # Malay
        "sdn bhd",
        "sdnbhd",
        "sendirian berhad",
        "bhd",
        "berhad",
        "plt",
    }
)

CJK_LEGAL_FORMS: frozenset[str] = frozenset(
    {
        "股份有限公司",
        "有限责任公司",
        "有限責任公司",
        "有限公司",
        "分公司",
        "总公司",
        "總公司",
        "公司",
    }
)

# Group words name a family of companies rather than a legal form, but
# "Acme Holdings Sdn Bhd", "Acme Group" and "Acme" are the same customer for
# duplicate detection. They are removed from the end exactly like legal forms
# (so "Foo Holdings Sdn. Bhd." gives "foo"); like legal forms, a name made only
# of them ("Group", "集团") is kept whole.
LATIN_GROUP_WORDS: frozenset[str] = frozenset({"group", "holding", "holdings"})
CJK_GROUP_WORDS: frozenset[str] = frozenset({"集团", "集團", "控股"})

# A bracketed region or company registration number is removed only when it
# sits next to a removed legal form: "启明（中国）有限公司", "Acme (M) Sdn Bhd",
# "Acme Sdn Bhd (Malaysia)", "Acme Sdn Bhd (123456-A)". "Acme (Malaysia)" on
# its own keeps the region.
REGION_QUALIFIERS: frozenset[str] = frozenset(
    {
        "中国",
        "中國",
        "china",
        "prc",
        "malaysia",
        "m",
        "马来西亚",
        "馬來西亞",
        "singapore",
        "s",
        "新加坡",
        "hong kong",
        "hk",
        "香港",
        "taiwan",
        "台湾",
        "台灣",
        "asia",
        "asia pacific",
        "apac",
        "亚太",
        "亞太",
    }
)


def _alternation(phrases: frozenset[str]) -> str:
    # Longest first, so "sdn bhd" wins over "bhd" and 股份有限公司 over 公司.
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))


_LATIN_BOUNDARY = r"(?<![0-9a-z\u00c0-\u024f])"
_TRAILING_FORM = re.compile(
    rf"(?:{_LATIN_BOUNDARY}(?:{_alternation(LATIN_LEGAL_FORMS | LATIN_GROUP_WORDS)})"
    rf"|(?:{_alternation(CJK_LEGAL_FORMS | CJK_GROUP_WORDS)}))$"
)
_TRAILING_GROUP = re.compile(r"(?<!\S)\(([^()]*)\)$")
_QUALIFIER = re.compile(rf"(?:{_alternation(REGION_QUALIFIERS)}|\d{{5,}}(?: ?[a-z])?)")

_TRADEMARK_SIGNS = str.maketrans("", "", "™℠®©")
_APOSTROPHES = frozenset("'’‘`")  # not U+02BC ʼ: Unicode files it as a letter
# "l.l.c.", "s.a.", "k.k", "u.s.a." → "llc", "sa", "kk", "usa".
_DOTTED_ABBREVIATION = re.compile(r"(?<![0-9a-z])(?:[a-z]\.)+[a-z]?(?![0-9a-z])")
_BRACKET_GROUP = re.compile(r"[(\[{【〔〖]([^()\[\]{}【】〔〕〖〗]*)[)\]}】〕〗]")
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")


def normalize_company_name(name: str) -> str:
    """Return the matching key of a company name; see the module docstring.

    Steps: drop trademark signs, NFKC (full-width → ASCII), casefold, join
    dotted abbreviations, replace punctuation and symbols with spaces (keeping
    letters, digits and marks of any script), collapse whitespace, then remove
    legal forms, group words and adjacent bracketed regions from the end,
    repeatedly. If that would leave nothing ("Sdn. Bhd.", "有限公司"), the
    cleaned name is returned unstripped.
    """
    text = unicodedata.normalize("NFKC", name.translate(_TRADEMARK_SIGNS)).casefold()
    text = _DOTTED_ABBREVIATION.sub(lambda match: match.group(0).replace(".", ""), text)
    work = _clean_with_groups(text)
    stripped = _render(_strip_trailing_forms(work))
    return stripped or _render(work)


def _clean_with_groups(text: str) -> str:
    """Clean ``text``, keeping innermost bracket groups as ``(inner)`` words."""
    pieces: list[str] = []
    position = 0
    for match in _BRACKET_GROUP.finditer(text):
        pieces.append(_clean(text[position : match.start()]))
        inner = _clean(match.group(1))
        if inner:
            pieces.append(f"({inner})")
        position = match.end()
    pieces.append(_clean(text[position:]))
    return " ".join(piece for piece in pieces if piece)


def _clean(text: str) -> str:
    characters: list[str] = []
    for character in text:
        category = unicodedata.category(character)
        if character in _APOSTROPHES or category == "Cf":
            continue  # "McDonald's" → "mcdonalds"; zero-width characters vanish.
        if category[0] == "M" and (not characters or characters[-1] == " "):
            continue  # A mark with no letter to sit on ("¸" is " " + U+0327) says nothing.
        characters.append(character if category[0] in "LNM" else " ")
    return _CJK_GAP.sub("", " ".join("".join(characters).split()))


def _render(work: str) -> str:
    return _CJK_GAP.sub("", " ".join(work.replace("(", " ").replace(")", " ").split()))


def _strip_trailing_forms(work: str) -> str:
    removed_form = False
    while work:
        remainder = _strip_one_form(work)
        if remainder is not None:
            work, removed_form = remainder, True
            continue
        group = _TRAILING_GROUP.search(work)
        if group is None or not _QUALIFIER.fullmatch(group.group(1)):
            break
        remainder = work[: group.start()].rstrip()
        # The qualifier follows a removed form, or precedes one still in place.
        if not removed_form and _strip_one_form(remainder) is None:
            break
        work = remainder
    return work


def _strip_one_form(work: str) -> str | None:
    """``work`` without its trailing legal form or group word, or ``None``."""
    match = _TRAILING_FORM.search(work)
    if match is not None:
        return work[: match.start()].rstrip()
    group = _TRAILING_GROUP.search(work)
    if group is not None and _only_forms(group.group(1)):
        return work[: group.start()].rstrip()  # "Acme (Pty) Ltd", "Foo (有限公司)"
    return None


def _only_forms(text: str) -> bool:
    while text:
        match = _TRAILING_FORM.search(text)
        if match is None:
            return False
        text = text[: match.start()].rstrip()
    return True


# --- domains -----------------------------------------------------------------

# Public suffixes of more than one label in the target markets. Other
# two-letter country codes get the same treatment when their second level is a
# generic label (see _GENERIC_SECOND_LEVEL), and anything else falls back to the
# last label, as the Public Suffix List's "*" rule does.
PUBLIC_SUFFIXES: frozenset[str] = frozenset(
    {
        *("com.my", "net.my", "org.my", "gov.my", "edu.my", "mil.my", "name.my", "biz.my"),
        *("com.cn", "net.cn", "org.cn", "gov.cn", "edu.cn", "ac.cn"),
        *("com.sg", "net.sg", "org.sg", "gov.sg", "edu.sg", "per.sg"),
        *("co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk"),
        *("com.au", "net.au", "org.au", "edu.au", "gov.au", "id.au"),
        *("com.hk", "net.hk", "org.hk", "edu.hk", "gov.hk", "idv.hk"),
        *("co.id", "or.id", "ac.id", "go.id", "web.id", "my.id", "biz.id"),
        *("co.th", "or.th", "ac.th", "go.th", "in.th", "net.th"),
        *("co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp", "ad.jp", "ed.jp", "gr.jp"),
        *("com.tw", "net.tw", "org.tw", "edu.tw", "gov.tw", "idv.tw"),
    }
)
_GENERIC_SECOND_LEVEL = frozenset(
    {"com", "net", "org", "co", "ac", "edu", "gov", "go", "or", "ne", "mil"}
)

# Mail providers anyone can sign up to: their domain says nothing about the
# customer. Compared on the registrable domain, so "vip.qq.com" counts as well.
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        *("gmail.com", "googlemail.com"),
        *("yahoo.com", "ymail.com", "rocketmail.com", "yahoo.com.my", "yahoo.com.sg"),
        *("yahoo.com.hk", "yahoo.com.tw", "yahoo.co.id", "yahoo.co.th", "yahoo.co.jp"),
        *("yahoo.co.uk", "yahoo.com.au", "yahoo.com.cn"),
        *("hotmail.com", "hotmail.my", "hotmail.sg", "hotmail.co.uk", "hotmail.co.th"),
        *("outlook.com", "outlook.my", "outlook.sg", "live.com", "live.com.my", "msn.com"),
        *("icloud.com", "me.com", "mac.com", "aol.com", "gmx.com", "mail.com"),
        *("proton.me", "protonmail.com", "zohomail.com", "yandex.com"),
        *("qq.com", "foxmail.com", "163.com", "126.com", "yeah.net", "139.com"),
        *("sina.com", "sina.cn", "sohu.com", "aliyun.com"),
        *("streamyx.com", "tm.net.my"),
    }
)

_IDEOGRAPHIC_FULL_STOP = "\u3002"  # also the NFKC form of "｡"; IDNA treats it as "."
_ASCII_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def domain_of_email(email: str) -> str:
    """The host of an e-mail address (``"Ann <ann@Acme.COM>"`` → ``acme.com``).

    Lowercase, punycode decoded to Unicode, trailing dot removed; ``""`` when
    the address has no local part or no usable host. A leading ``www.`` is
    kept: it is part of an e-mail domain.
    """
    address = unicodedata.normalize("NFKC", email).strip()
    if address.endswith(">") and "<" in address:
        address = address[address.rindex("<") + 1 : -1].strip()
    local, at, host = address.rpartition("@")
    if not at or not local or any(character.isspace() for character in address):
        return ""
    return _clean_host(host)


def normalize_domain(value: str) -> str:
    """The host of a URL, bare domain or e-mail address, without a leading ``www.``.

    ``"https://www.Example.com.my/path"`` → ``example.com.my``,
    ``"WWW.example.com."`` → ``example.com``, ``"example.com:8080"`` →
    ``example.com``; ``""`` when there is no usable host.
    """
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        return ""
    if "://" not in text and not text.startswith("//"):
        text = f"//{text}"
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:  # an unbalanced IPv6 bracket
        return ""
    host = _clean_host(host)
    if host.startswith("www.") and host.count(".") >= 2:
        host = host[len("www.") :]
    return host


def _clean_host(host: str) -> str:
    host = host.replace(_IDEOGRAPHIC_FULL_STOP, ".").strip().rstrip(".").lower()
    if not host or len(host) > 253:
        return ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return ""
    labels = host.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return ""
    decoded: list[str] = []
    for label in labels:
        if label.startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna").lower()
            except UnicodeError:
                return ""
        if not _valid_label(label):
            return ""
        decoded.append(label)
    return ".".join(decoded)


def _valid_label(label: str) -> bool:
    if label.isascii():
        return _ASCII_LABEL.fullmatch(label) is not None
    return (
        0 < len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        and all(
            character == "-" or unicodedata.category(character)[0] in "LNM" for character in label
        )
    )


def registrable_domain(host: str) -> str:
    """The registrable domain (eTLD+1) of a host, URL or e-mail address.

    ``"sales.acme.com.my"`` → ``acme.com.my``, ``"mail.acme.com"`` →
    ``acme.com``; ``""`` for a public suffix itself (``"com.my"``) or an
    unusable host. Best effort: see ``PUBLIC_SUFFIXES``.
    """
    labels = normalize_domain(host).split(".")
    suffix_length = _public_suffix_length(labels)
    if len(labels) <= suffix_length:
        return ""
    return ".".join(labels[-(suffix_length + 1) :])


def _public_suffix_length(labels: list[str]) -> int:
    if len(labels) >= 2:
        last_two = labels[-2:]
        if ".".join(last_two) in PUBLIC_SUFFIXES:
            return 2
        second, country = last_two
        country_code = len(country) == 2 and country.isascii() and country.isalpha()
        if country_code and second in _GENERIC_SECOND_LEVEL:
            return 2
    return 1


def is_free_mail(domain: str) -> bool:
    """Whether ``domain`` (a host, URL or e-mail address) is a free-mail provider."""
    host = normalize_domain(domain)
    if not host:
        return False
    return host in FREE_MAIL_DOMAINS or registrable_domain(host) in FREE_MAIL_DOMAINS


def domains_related(a: str, b: str, aliases: Mapping[str, str] | None = None) -> bool:
    """Whether ``a`` and ``b`` point at the same company.

    True when both share a registrable domain (which covers one being a
    subdomain of the other) or when ``aliases`` — alias registrable domain →
    canonical registrable domain, followed through chains — maps them onto the
    same domain. Always false for free mail or an unusable host.
    """
    if is_free_mail(a) or is_free_mail(b):
        return False
    first, second = registrable_domain(a), registrable_domain(b)
    if not first or not second:
        return False
    table = _alias_table(aliases or {})
    return _canonical(first, table) == _canonical(second, table)


def _alias_table(aliases: Mapping[str, str]) -> dict[str, str]:
    table: dict[str, str] = {}
    for alias, canonical in aliases.items():
        alias_domain, canonical_domain = registrable_domain(alias), registrable_domain(canonical)
        if alias_domain and canonical_domain and not is_free_mail(canonical_domain):
            table[alias_domain] = canonical_domain
    return table


def _canonical(domain: str, table: dict[str, str]) -> str:
    seen: set[str] = set()
    while domain in table and domain not in seen:
        seen.add(domain)
        domain = table[domain]
    return domain
