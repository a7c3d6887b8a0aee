"""`timeline extract` reads a notice in every form it arrives in, told by content, and says
clearly when it cannot: the same notice as UTF-8, GBK, UTF-16, HTML, DOCX and PDF gives the
same candidates; an empty, binary, scanned or old-Word file gets one line and exit 1."""

from __future__ import annotations

import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.extract_inputs import DATA, as_docx, as_html, as_pdf, notice_text, scanned_pdf
from timeline.cli import cli
from timeline.extract import extract
from timeline.extract.read import read_notice

TEXT = notice_text("subsidy-call")


def _dates(data: bytes, name: str) -> set[tuple[str, str]]:
    found = extract(data, name).candidates
    return {(c.event.kind, c.event.model_dump_json(include={"due", "start", "end", "date"}))
            for c in found}


EXPECTED = _dates(TEXT.encode(), "notice.txt")

FORMS = {
    "utf-8": (TEXT.encode(), "text", "utf-8"),
    "gbk": (TEXT.encode("gbk"), "text", "gb18030"),
    "gb18030": (TEXT.encode("gb18030"), "text", "gb18030"),
    "utf-16 with BOM": (TEXT.encode("utf-16"), "text", "utf-16 (BOM)"),
    "utf-16-le without BOM": (TEXT.encode("utf-16-le"), "text", "utf-16-le"),
    "utf-8 with BOM": (b"\xef\xbb\xbf" + TEXT.encode(), "text", "utf-8 (BOM)"),
    "html page": (as_html(TEXT), "html", "utf-8"),
    "docx": (as_docx(TEXT), "docx", None),
    "pdf": (as_pdf(TEXT), "pdf", None),
}


def test_the_notice_has_candidates_to_compare() -> None:
    assert len(EXPECTED) == 6


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_gives_the_same_candidates(form: str) -> None:
    data, kind, encoding = FORMS[form]
    document = read_notice(data, "notice")  # no suffix: told by content alone
    assert document.format == kind
    assert document.encoding == encoding
    assert _dates(data, "notice") == EXPECTED


def test_a_misleading_suffix_does_not_matter(tmp_path: Path) -> None:
    path = tmp_path / "notice.txt"
    path.write_bytes(as_pdf(TEXT))
    result = CliRunner().invoke(cli, ["extract", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"format": "pdf"' in result.stdout


def test_html_keeps_the_notice_and_drops_the_site_around_it() -> None:
    text = read_notice(as_html(TEXT), "page.html").text
    assert "申报时间自２０２５年３月３日起至２０２５年３月３１日止" in text
    for chrome in ("今天是2025年2月21日", "2024年度报告", "2024年12月31日前办结事项", "版权所有",
                   "ICP备", "built"):
        assert chrome not in text


def test_an_old_table_layout_page_in_gb2312() -> None:
    """A gov site of the 2000s: table layout, <br> lines, a sidebar of dated headlines."""
    document = read_notice((DATA / "html" / "old-table-site.html").read_bytes(), "page")
    assert document.format == "html" and document.encoding == "gb2312"
    assert "投标文件递交的截止时间为2024年4月9日9时30分" in document.text
    for chrome in ("监理招标公告", "物业服务招标公告", "版权所有", "网站首页"):
        assert chrome not in document.text
    found = extract((DATA / "html" / "old-table-site.html").read_bytes(), "page").candidates
    assert {c.event.kind for c in found} == {"window", "deadline", "happening"}


def test_a_modern_gov_page_with_sidebar_related_links_and_footer() -> None:
    data = (DATA / "html" / "gov-notice.html").read_bytes()
    document = read_notice(data, "page")
    assert "申报时间自2025年3月3日起至2025年3月31日止" in document.text
    for chrome in ("热点专题", "相关文章", "2024年5月31日前完成申报", "版权所有", "今天是"):
        assert chrome not in document.text
    extraction = extract(data, "page")
    assert extraction.published is not None and str(extraction.published.day) == "2025-02-20"


def _zip(names: list[str]) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return buffer.getvalue()


REFUSED = {
    "empty": (b"", "the file is empty"),
    "only whitespace": (b" \n\t\n", "the file is empty"),
    "binary": (bytes(range(256)) * 40, "not text"),
    "scanned pdf": (scanned_pdf(), "no text layer (a scan?): OCR it first"),
    "damaged pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ntrailer garbage", "PDF"),
    "old word .doc": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "save it as .docx"),
    "rtf": (b"{\\rtf1\\ansi hello}", "save it as .docx"),
    "spreadsheet": (_zip(["xl/workbook.xml", "[Content_Types].xml"]), "not a Word document"),
    "damaged docx": (b"PK\x03\x04" + b"\0" * 64, "damaged"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unreadable_inputs_get_one_clear_line_and_exit_1(tmp_path: Path, case: str) -> None:
    data, message = REFUSED[case]
    path = tmp_path / "notice.bin"
    path.write_bytes(data)
    result = CliRunner().invoke(cli, ["extract", str(path)])
    assert result.exit_code == 1
    assert message in result.stderr
    assert isinstance(result.exception, SystemExit)  # exit 1 on purpose, not a crash
    assert "Traceback" not in result.output


def test_a_missing_file_and_a_folder(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["extract", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 1 and "no such file" in missing.stderr
    folder = runner.invoke(cli, ["extract", str(tmp_path)])
    assert folder.exit_code == 1 and "a folder, not a notice" in folder.stderr


def test_standard_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["extract", "-", "--format", "json"],
                                input=TEXT.encode("gbk"))
    assert result.exit_code == 0, result.output
    assert '"encoding": "gb18030"' in result.stdout
    assert "stdin: text, gb18030" in result.stderr


def test_the_offsets_point_into_the_original_text() -> None:
    """Evidence quotes the original as it was decoded: full-width digits and all."""
    for form in ("utf-8", "gbk", "pdf"):
        data = FORMS[form][0]
        extraction = extract(data, "notice")
        original = extraction.document.text
        for candidate in extraction.candidates:
            evidence = candidate.evidence
            assert original[evidence.start:evidence.end] == evidence.quote
        for skipped in extraction.skipped:
            assert original[skipped.start:skipped.end] == skipped.quote


def test_a_file_of_nul_bytes_is_no_text() -> None:
    import pytest as _pytest

    from timeline.extract import UnreadableNotice

    with _pytest.raises(UnreadableNotice, match="not text"):
        read_notice(b"\x00\x00\x00\x00", "nul.txt")
