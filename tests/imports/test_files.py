"""Reading an uploaded file: encodings, separators, the header row, limits.
A problem with the file as a whole stores nothing and says what is wrong."""

from __future__ import annotations

import codecs

import pytest

from deals import imports
from deals.models import ImportBatch, Lead
from prm.tenancy.context import tenant_context
from tests.imports.conftest import LEAD_HEADER, csv_bytes, lead_row, leads_file, preview

pytestmark = pytest.mark.django_db

CHINESE_ROW = ["上海启明信息技术股份有限公司", "王小明", "wang@qiming.cn", "CN"]


def file_error(world, data: bytes, kind: str = "leads") -> imports.ImportFileError:
    with pytest.raises(imports.ImportFileError) as raised:
        preview(world.manager, data, kind=kind)
    with tenant_context(world.tenant):
        assert not ImportBatch.objects.exists()
    return raised.value


def test_a_utf8_file_with_a_byte_order_mark_reads_like_one_without(world):
    batch = preview(world.manager, csv_bytes([LEAD_HEADER, CHINESE_ROW], bom=True))
    assert (batch.row_count, batch.valid_count, batch.errors) == (1, 1, [])
    assert not batch.content.startswith("\ufeff")
    assert "上海启明" in batch.content


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_separated_files_are_recognised(world, delimiter):
    data = csv_bytes(
        [LEAD_HEADER, lead_row(1, company="Acme, Inc."), lead_row(2)], delimiter=delimiter
    )
    batch = preview(world.manager, data)
    assert (batch.row_count, batch.valid_count) == (2, 2)
    with tenant_context(world.tenant):
        imports.commit_import(
            batch=batch, membership=world.manager, actor=world.manager.user, valid_only=False
        )
        assert sorted(Lead.objects.values_list("company", flat=True)) == [
            "Acme, Inc.",
            "Company 2 Sdn Bhd",
        ]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_is_read(world, encoding):
    data = csv_bytes([LEAD_HEADER, CHINESE_ROW], delimiter="\t", encoding=encoding)
    if encoding != "utf-16":  # the plain codec writes its own mark
        data = (codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE) + data
    batch = preview(world.manager, data)
    assert (batch.row_count, batch.valid_count) == (1, 1)
    assert "王小明" in batch.content


def test_a_file_that_is_not_utf8_is_refused_with_the_line_to_look_at(world):
    data = csv_bytes([LEAD_HEADER, lead_row(1), CHINESE_ROW], encoding="gb18030")
    error = file_error(world, data)
    assert error.code == "encoding"
    assert "not UTF-8" in error.problems[0]
    assert "line 3" in error.problems[0]
    assert "CSV UTF-8" in error.problems[0]


def test_broken_utf16_is_refused(world):
    error = file_error(world, codecs.BOM_UTF16_LE + "company".encode("utf-16-le") + b"\x00")
    assert error.code == "encoding"
    assert "UTF-16" in error.problems[0]


def test_utf16_without_a_byte_order_mark_is_refused_not_stored(world):
    error = file_error(world, csv_bytes([LEAD_HEADER, lead_row(1)], encoding="utf-16-le"))
    assert error.code == "encoding"
    assert "NUL" in error.problems[0]


def test_unknown_columns_are_listed_with_the_expected_ones(world):
    data = csv_bytes([[*LEAD_HEADER, "Favourite Colour", "fax"], [*lead_row(1), "blue", "1"]])
    error = file_error(world, data)
    assert error.code == "columns"
    assert error.problems == [
        "Unknown columns: Favourite Colour, fax. The columns for Leads are: "
        + ", ".join(column.name for column in imports.LEAD_COLUMNS)
        + "."
    ]


def test_missing_required_columns_are_named(world):
    error = file_error(world, csv_bytes([["company", "country"], ["Acme", "MY"]]))
    assert error.problems == ["Required columns are missing: contact_name, contact_email."]


def test_every_column_problem_is_reported_at_once(world):
    data = csv_bytes([["company", "Company", "fax"], ["a", "b", "c"]])
    error = file_error(world, data)
    assert error.problems == [
        "Unknown columns: fax. The columns for Leads are: "
        + ", ".join(column.name for column in imports.LEAD_COLUMNS)
        + ".",
        "Columns named more than once: company.",
        "Required columns are missing: contact_name, contact_email, country.",
    ]


def test_headers_match_whatever_their_case_and_spacing(world):
    header = ["COMPANY", " Contact Name ", "contact-email", "Country", "External_ID"]
    batch = preview(world.manager, csv_bytes([header, [*lead_row(1), "crm-1"]]))
    assert (batch.row_count, batch.valid_count) == (1, 1)


def test_an_unnamed_column_is_ignored_unless_it_holds_values(world):
    rows = [[*LEAD_HEADER, ""], [*lead_row(1), ""], [*lead_row(2), "stray"]]
    batch = preview(world.manager, csv_bytes(rows))
    assert batch.errors == [
        {"row": 3, "field": "", "message": "This row has a value in a column without a name."}
    ]


def test_a_file_without_a_header_row_is_refused(world):
    error = file_error(world, csv_bytes([lead_row(1), lead_row(2)]))
    assert error.code == "no_header"
    assert "first row must name the columns" in error.problems[0]


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"", "empty"), (b"\r\n\r\n", "empty"), (b"\xef\xbb\xbf", "empty")],
)
def test_an_empty_file_is_refused(world, data, code):
    assert file_error(world, data).code == code


def test_a_header_without_rows_is_refused(world):
    error = file_error(world, csv_bytes([LEAD_HEADER, [], ["", "", "", ""]]))
    assert error.code == "no_rows"


def test_files_over_5_mb_are_refused_before_reading(world):
    data = leads_file(1) + b"x" * imports.MAX_BYTES
    error = file_error(world, data)
    assert error.code == "too_large"
    assert "5.0" in error.problems[0]


def test_more_than_10000_rows_are_refused(world):
    assert file_error(world, leads_file(imports.MAX_ROWS + 1)).code == "too_many_rows"


def test_exactly_10000_rows_are_accepted(world):
    batch = preview(world.manager, leads_file(imports.MAX_ROWS))
    assert (batch.row_count, batch.valid_count) == (imports.MAX_ROWS, imports.MAX_ROWS)


def test_rows_are_numbered_as_in_a_spreadsheet_and_blank_rows_skipped(world):
    rows = [LEAD_HEADER, lead_row(1), [], lead_row(2, contact_email="nope"), ["", "", "", ""]]
    rows.append(lead_row(3, country="Malaysia"))
    batch = preview(world.manager, csv_bytes(rows))
    assert batch.row_count == 3
    assert [(e["row"], e["field"]) for e in batch.errors] == [
        (4, "contact_email"),
        (6, "country"),
    ]


def test_an_unbalanced_quote_is_reported_as_unreadable(world):
    data = leads_file(2) + b'"Acme,Ali,ali@acme.my,MY\r\n' + b"x" * 140_000
    error = file_error(world, data)
    assert error.code == "csv"
    assert "Row 4" in error.problems[0]


def test_a_row_longer_than_the_header_is_invalid(world):
    rows = [LEAD_HEADER, [*lead_row(1), "extra"], [*lead_row(2), "", " "]]
    batch = preview(world.manager, csv_bytes(rows))
    assert batch.valid_count == 1  # empty trailing cells, as spreadsheets write them, are fine
    assert batch.errors == [
        {
            "row": 2,
            "field": "",
            "message": "This row has more values than the header has columns.",
        }
    ]


def test_the_template_file_has_the_documented_columns_and_reads_back(world):
    template = imports.template_csv("leads").encode()
    error = file_error(world, template)  # a header, no rows yet
    assert error.code == "no_rows"
    filled = template + csv_bytes([lead_row(1) + [""] * 10])
    batch = preview(world.manager, filled)
    assert (batch.row_count, batch.valid_count) == (1, 1)
    accounts = imports.template_csv("customer").encode("utf-8")
    assert accounts.decode("utf-8-sig").strip() == "name,domain,country,owner,external_id"
