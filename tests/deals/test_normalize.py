"""Matching keys for duplicate detection: company names and domains."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deals.normalize import (
    domain_of_email,
    domains_related,
    is_free_mail,
    normalize_company_name,
    normalize_domain,
    registrable_domain,
)

# --- company names -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme", "acme"),
        ("Acme Inc.", "acme"),
        ("ACME, Inc", "acme"),
        ("Acme Incorporated", "acme"),
        ("Acme Corporation", "acme"),
        ("Acme Corp.", "acme"),
        ("Acme Co., Ltd.", "acme"),
        ("Acme Company Limited", "acme"),
        ("Acme LLC", "acme"),
        ("Acme L.L.C.", "acme"),
        ("Acme LLP", "acme"),
        ("Acme PLC", "acme"),
        ("Acme Pte. Ltd.", "acme"),
        ("Acme Pte Ltd", "acme"),
        ("Acme Private Limited", "acme"),
        ("Acme Pty Ltd", "acme"),
        ("Acme (Pty) Ltd", "acme"),
        ("Acme GmbH", "acme"),
        ("Acme S.A.", "acme"),
        ("Acme K.K.", "acme"),
        ("Acme & Co.", "acme"),
        ("Acme™ Inc.", "acme"),
    ],
)
def test_english_legal_forms_are_removed(name, expected):
    assert normalize_company_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Teknologi Awan Sdn. Bhd.", "teknologi awan"),
        ("Teknologi Awan Sdn Bhd", "teknologi awan"),
        ("TEKNOLOGI AWAN SDN BHD", "teknologi awan"),
        ("Teknologi Awan SdnBhd", "teknologi awan"),
        ("Teknologi Awan Sendirian Berhad", "teknologi awan"),
        ("Teknologi Awan Berhad", "teknologi awan"),
        ("Teknologi Awan Bhd", "teknologi awan"),
        ("Teknologi Awan PLT", "teknologi awan"),
    ],
)
def test_malay_legal_forms_are_removed(name, expected):
    assert normalize_company_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("上海启明信息技术有限公司", "上海启明信息技术"),
        ("上海启明信息技术股份有限公司", "上海启明信息技术"),
        ("上海启明信息技术有限责任公司", "上海启明信息技术"),
        ("华为技术有限公司", "华为技术"),
        ("华为技术", "华为技术"),
        ("阿里巴巴集团", "阿里巴巴"),
        ("阿里巴巴集团控股有限公司", "阿里巴巴"),
        ("腾讯控股", "腾讯"),
        ("启明（中国）有限公司", "启明"),
        ("启明(中国)有限公司", "启明"),
        ("台灣積體電路製造股份有限公司", "台灣積體電路製造"),
        ("鴻海集團", "鴻海"),
        ("长城有限責任公司", "长城"),
        ("华为 技术 有限 公司", "华为技术"),
        ("ABC有限公司", "abc"),
    ],
)
def test_chinese_legal_forms_are_removed_from_the_end(name, expected):
    assert normalize_company_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme (M) Sdn. Bhd.", "acme"),
        ("Acme (Malaysia) Sdn Bhd", "acme"),
        ("Acme Sdn Bhd (Malaysia)", "acme"),
        ("Acme (Singapore) Pte Ltd", "acme"),
        ("Acme Sdn. Bhd. (123456-A)", "acme"),
        ("Acme (China) Co., Ltd.", "acme"),
        # Without a legal form next to it the region is part of the name.
        ("Acme (Malaysia)", "acme malaysia"),
        ("Acme (Malaysia) Cloud Sdn Bhd", "acme malaysia cloud"),
        # Only regions are qualifiers; other bracketed words stay.
        ("Acme (Cloud) Sdn Bhd", "acme cloud"),
    ],
)
def test_bracketed_region_next_to_a_legal_form_is_removed(name, expected):
    assert normalize_company_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Foo Holdings Sdn. Bhd.", "foo"),
        ("Foo Group", "foo"),
        ("Foo Group Holdings Ltd", "foo"),
        ("Boston Consulting Group", "boston consulting"),
        # Group words are removed from the end only.
        ("Group Foo Sdn Bhd", "group foo"),
        ("Foo Holdings Property", "foo holdings property"),
    ],
)
def test_group_words_are_removed_from_the_end_like_legal_forms(name, expected):
    assert normalize_company_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme Enterprise", "acme enterprise"),
        ("Acme Trading", "acme trading"),
        ("Acme Technologies Sdn Bhd", "acme technologies"),
        # A legal form in the middle of a name is not a suffix.
        ("Acme Co Working Space", "acme co working space"),
        ("Limited Edition Books Ltd", "limited edition books"),
        # A legal form glued to a Latin word is not one.
        ("Ecoltd", "ecoltd"),
        ("Telco", "telco"),
    ],
)
def test_ordinary_name_parts_stay(name, expected):
    assert normalize_company_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ＡＣＭＥ　ＩＮＣ．", "acme"),
        ("ＡＢＣ　Ｓｄｎ　Ｂｈｄ", "abc"),
        ("ＡＢＣ　Ｓｄｎ．　Ｂｈｄ．", "abc"),
        ("Ａｃｍｅ　１２３", "acme 123"),
        ("启明（中国）有限公司", "启明"),
    ],
)
def test_full_width_forms_match_their_ascii_spelling(name, expected):
    assert normalize_company_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("  Acme \t\n Cloud  ", "acme cloud"),
        ("Acme\u00a0Cloud", "acme cloud"),
        ("Ac\u200bme Cloud", "acme cloud"),
        ("Acme-Cloud", "acme cloud"),
        ("Acme/Cloud, Inc.", "acme cloud"),
        ("McDonald's", "mcdonalds"),
        ("McDonald’s Corporation", "mcdonalds"),
        ("A.B.C. Trading", "abc trading"),
        ("Acme...Cloud!!!", "acme cloud"),
        ("Société Générale S.A.", "société générale"),
        ("ＳＯＣＩÉＴÉ", "société"),
    ],
)
def test_whitespace_and_punctuation_do_not_matter(name, expected):
    assert normalize_company_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Inc.", "inc"),
        ("Sdn. Bhd.", "sdn bhd"),
        ("Co., Ltd.", "co ltd"),
        ("有限公司", "有限公司"),
        ("集团", "集团"),
        ("Group", "group"),
        ("(M) Sdn Bhd", "m sdn bhd"),
    ],
)
def test_a_name_that_is_only_a_legal_form_is_kept_whole(name, expected):
    assert normalize_company_name(name) == expected


@pytest.mark.parametrize("name", ["", "   ", "!!!", "（）", "™"])
def test_a_name_without_letters_or_digits_normalises_to_nothing(name):
    assert normalize_company_name(name) == ""


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Acme Inc.", "ACME, Inc"),
        ("Acme Corporation", "Acme Co., Ltd."),
        ("Teknologi Awan Sdn. Bhd.", "TEKNOLOGI AWAN BERHAD"),
        ("华为技术有限公司", "华为技术"),
        ("ＡＣＭＥ　ＩＮＣ．", "acme"),
    ],
)
def test_spellings_of_one_company_share_a_key(first, second):
    assert normalize_company_name(first) == normalize_company_name(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Acme Cloud Sdn Bhd", "Acme Sdn Bhd"),
        ("华为技术有限公司", "华为终端有限公司"),
        ("Acme (Malaysia)", "Acme"),
    ],
)
def test_different_companies_keep_different_keys(first, second):
    assert normalize_company_name(first) != normalize_company_name(second)


def _full_width(text: str) -> str:
    return "".join(
        "\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text
    )


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_full_width_spelling_never_changes_the_key(name):
    assert normalize_company_name(_full_width(name)) == normalize_company_name(name)


@given(st.text())
def test_key_holds_only_letters_digits_marks_and_single_spaces(name):
    key = normalize_company_name(name)
    assert key == key.strip()
    assert "  " not in key
    assert all(c == " " or unicodedata.category(c)[0] in "LNM" for c in key)


@given(st.text())
def test_key_is_empty_only_without_letters_or_digits(name):
    # Trademark signs are dropped before NFKC would spell them as letters ("TM").
    without_signs = "".join(c for c in name if c not in "™℠®©")
    meaningful = any(
        unicodedata.category(c)[0] in "LN" for c in unicodedata.normalize("NFKC", without_signs)
    )
    assert bool(normalize_company_name(name)) == meaningful


# --- domains -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("ann@acme.com", "acme.com"),
        ("Ann@Acme.COM", "acme.com"),
        ("  ann@sales.acme.com.my ", "sales.acme.com.my"),
        ("Ann Lee <ann@Acme.com>", "acme.com"),
        ("ann@www.acme.com", "www.acme.com"),
        ("ann@acme.com.", "acme.com"),
        ("ann@xn--fsqu00a.xn--fiqs8s", "例子.中国"),
        ("ann@例子。中国", "例子.中国"),
        ("ａｎｎ＠ａｃｍｅ．ｃｏｍ", "acme.com"),
        ("", ""),
        ("acme.com", ""),
        ("@acme.com", ""),
        ("ann@", ""),
        ("ann@localhost", ""),
        ("ann@192.168.0.1", ""),
        ("ann lee@acme.com", ""),
        ("ann@acme..com", ""),
        ("ann@-acme.com", ""),
        ("ann@acme_corp.com", ""),
        ("ann@xn--zz.com", ""),
    ],
)
def test_domain_of_email(email, expected):
    assert domain_of_email(email) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.Example.com.my/path", "example.com.my"),
        ("WWW.example.com.", "example.com"),
        ("example.com:8080", "example.com"),
        ("http://example.com:8080/a?b=c#d", "example.com"),
        ("example.com/pricing", "example.com"),
        ("//cdn.example.com", "cdn.example.com"),
        ("https://user:secret@www.example.com/", "example.com"),
        ("ann@example.com", "example.com"),
        ("  Example.COM  ", "example.com"),
        ("https://xn--fsqu00a.xn--fiqs8s/", "例子.中国"),
        ("ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ", "example.com"),
        # "www" is dropped only when a registrable-looking host remains.
        ("www.com", "www.com"),
        ("", ""),
        ("localhost", ""),
        ("http://localhost:8000/", ""),
        ("10.0.0.1", ""),
        ("http://[::1]/", ""),
        ("http://[::1", ""),
        ("not a domain", ""),
        ("example.123", ""),
    ],
)
def test_normalize_domain(value, expected):
    assert normalize_domain(value) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("acme.com", "acme.com"),
        ("mail.acme.com", "acme.com"),
        ("a.b.mail.acme.com", "acme.com"),
        ("acme.com.my", "acme.com.my"),
        ("sales.acme.com.my", "acme.com.my"),
        ("acme.my", "acme.my"),
        ("sales.acme.my", "acme.my"),
        ("www.acme.org.my", "acme.org.my"),
        ("qiming.com.cn", "qiming.com.cn"),
        ("mail.qiming.com.cn", "qiming.com.cn"),
        ("oa.qiming.cn", "qiming.cn"),
        ("shop.acme.com.sg", "acme.com.sg"),
        ("shop.acme.co.uk", "acme.co.uk"),
        ("shop.acme.com.au", "acme.com.au"),
        ("shop.acme.com.hk", "acme.com.hk"),
        ("shop.acme.co.id", "acme.co.id"),
        ("shop.acme.co.th", "acme.co.th"),
        ("shop.acme.co.jp", "acme.co.jp"),
        ("shop.acme.com.tw", "acme.com.tw"),
        # Unlisted countries follow the com/co/org-under-a-country-code pattern.
        ("shop.acme.co.nz", "acme.co.nz"),
        ("shop.acme.com.br", "acme.com.br"),
        ("https://www.Acme.com.my/contact", "acme.com.my"),
        ("ann@sales.acme.com.my", "acme.com.my"),
        ("mail.例子.中国", "例子.中国"),
        # A public suffix on its own registers nothing.
        ("com.my", ""),
        ("co.uk", ""),
        ("", ""),
        ("localhost", ""),
    ],
)
def test_registrable_domain(host, expected):
    assert registrable_domain(host) == expected


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "GMAIL.COM",
        "ann@gmail.com",
        "yahoo.com",
        "yahoo.com.my",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "icloud.com",
        "qq.com",
        "vip.qq.com",
        "163.com",
        "vip.163.com",
        "126.com",
        "sina.com",
        "foxmail.com",
    ],
)
def test_free_mail_providers_are_recognised(domain):
    assert is_free_mail(domain) is True


@pytest.mark.parametrize(
    "domain", ["acme.com", "acme.com.my", "mygmail.com", "gmail.com.acme.com", "google.com", ""]
)
def test_company_domains_are_not_free_mail(domain):
    assert is_free_mail(domain) is False


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("acme.com", "acme.com"),
        ("acme.com", "ACME.COM"),
        ("mail.acme.com", "acme.com"),
        ("acme.com", "sales.acme.com"),
        ("sales.acme.com.my", "support.acme.com.my"),
        ("https://www.acme.com.my/", "ann@acme.com.my"),
        ("xn--fsqu00a.xn--fiqs8s", "mail.例子.中国"),
    ],
)
def test_same_registrable_domain_is_related(first, second):
    assert domains_related(first, second) is True


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("acme.com", "acme.com.my"),
        ("acme.com.my", "beta.com.my"),
        ("acme.co.nz", "beta.co.nz"),
        ("acme.com", "notacme.com"),
        ("acme.com", ""),
        ("", ""),
        ("localhost", "localhost"),
        ("com.my", "com.my"),
    ],
)
def test_different_registrable_domains_are_not_related(first, second):
    assert domains_related(first, second) is False


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("gmail.com", "gmail.com"),
        ("ann@gmail.com", "bob@gmail.com"),
        ("vip.qq.com", "qq.com"),
        ("yahoo.com.my", "mail.yahoo.com.my"),
    ],
)
def test_free_mail_is_never_related(first, second):
    assert domains_related(first, second) is False


ACME_ALIASES = {"acme.com.my": "acme.com", "acme-cloud.io": "acme.com"}


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("acme.com.my", "acme.com", True),
        ("acme.com", "acme.com.my", True),
        ("sales.acme.com.my", "mail.acme.com", True),
        ("www.acme.com.my", "https://app.acme-cloud.io/", True),
        ("acme.com.my", "beta.com", False),
        ("acme.com.sg", "acme.com", False),
    ],
)
def test_aliases_relate_domains_of_one_company(first, second, expected):
    assert domains_related(first, second, ACME_ALIASES) is expected


def test_aliases_are_followed_through_chains():
    aliases = {"acme.my": "acme.com.my", "acme.com.my": "acme.com"}
    assert domains_related("acme.my", "acme.com", aliases) is True


def test_alias_table_written_as_hosts_or_urls_still_applies():
    aliases = {"https://www.Acme.com.my/": "WWW.ACME.COM."}
    assert domains_related("acme.com.my", "acme.com", aliases) is True


def test_alias_onto_free_mail_does_not_relate_companies():
    aliases = {"acme.com": "gmail.com", "beta.com": "gmail.com"}
    assert domains_related("acme.com", "beta.com", aliases) is False


def test_alias_does_not_make_free_mail_a_company_domain():
    aliases = {"gmail.com": "acme.com"}
    assert domains_related("gmail.com", "acme.com", aliases) is False
