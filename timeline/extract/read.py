"""Reading a notice: bytes in whatever form it arrived (text in any Chinese encoding, an HTML
page, a PDF, a Word file) to its plain text.

The form is told by content, not by the file name, since notices are saved under any name.
The text returned is "the original" every later offset points into: for text files the
decoded text itself, for the other forms the text pulled out of them.
"""

from __future__ import annotations

import codecs
import io
import zipfile
from dataclasses import dataclass
from typing import Literal

from timeline.errors import TimelineError

__all__ = ["MAX_BYTES", "Document", "UnreadableNotice", "read_notice"]

Format = Literal["text", "html", "pdf", "docx"]

MAX_BYTES = 50 * 1024 * 1024  # a notice, even a 200-page PDF; not a disk image
MAX_CHARACTERS = 2_000_000  # the text of a 1,000-page notice
_PDF_MAX_PAGES = 500
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .doc, .wps, .xls: the old Office container
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


class UnreadableNotice(TimelineError):
    """The input cannot be turned into text; the message says what to do instead."""


@dataclass(frozen=True)
class Document:
    text: str
    format: Format
    name: str
    encoding: str | None = None  # how a text or HTML file was decoded
    pages: int | None = None  # PDF pages

    def describe(self) -> str:
        detail = self.encoding or (f"{self.pages} page(s)" if self.pages else "")
        return f"{self.format}, {detail}" if detail else self.format


def read_notice(data: bytes, name: str = "-") -> Document:
    """The notice's text; raises UnreadableNotice with what to do when there is none."""
    document = _read(data, name)
    if len(document.text) > MAX_CHARACTERS:
        raise UnreadableNotice(f"{name}: {len(document.text):,} characters is more than a "
                               f"notice (at most {MAX_CHARACTERS:,}); split it")
    return document


def _read(data: bytes, name: str) -> Document:
    if len(data) > MAX_BYTES:
        raise UnreadableNotice(f"{name}: {len(data) // 1024 // 1024} MB is too big for a "
                               f"notice (at most {MAX_BYTES // 1024 // 1024} MB)")
    if not data.strip():
        raise UnreadableNotice(f"{name}: the file is empty")
    head = data[:1024]
    if b"%PDF-" in head:
        return _pdf(data, name)
    if data.startswith(_OLE2):
        raise UnreadableNotice(f"{name}: an old Word/WPS file (.doc or .wps); "
                               "save it as .docx (or PDF) and try again")
    if data.startswith(b"{\\rtf"):
        raise UnreadableNotice(f"{name}: an RTF file; save it as .docx and try again")
    if data.startswith(b"PK\x03\x04"):
        return _docx(data, name)
    text, encoding = _decode(data, name)
    if _looks_like_html(text):
        from timeline.extract.html import main_text

        body = main_text(text)
        if not body.strip():
            raise UnreadableNotice(f"{name}: an HTML page without text in its body")
        return Document(body, "html", name, encoding=encoding)
    return Document(text, "text", name, encoding=encoding)


def _decode(data: bytes, name: str) -> tuple[str, str]:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), codec.replace("-sig", "") + " (BOM)"
            except UnicodeDecodeError:
                break
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        import charset_normalizer

        best = charset_normalizer.from_bytes(data).best()
        if best is None:
            raise UnreadableNotice(f"{name}: not text in any encoding tried (a binary file?)"
                                   ) from None
        text, encoding = str(best), best.encoding.replace("_", "-")
    if _binary(text):
        raise UnreadableNotice(f"{name}: not text (control characters throughout: "
                               "a binary file?)")
    return text, encoding


def _binary(text: str) -> bool:
    sample = text[:4096]
    controls = sum(1 for c in sample if (ord(c) < 32 and c not in "\t\n\r\f") or c == "\x7f")
    return controls > 0 and (controls >= max(8, len(sample) // 100)
                             or controls * 10 > len(sample))


def _looks_like_html(text: str) -> bool:
    start = text.lstrip()[:512].lower()
    if start.startswith(("<!doctype html", "<html", "<?xml")) and "<html" in text[:4096].lower():
        return True
    lowered = text[:20000].lower()
    return start.startswith("<") and any(tag in lowered for tag in ("<body", "<div", "<p>",
                                                                   "<p ", "<table"))


def _pdf(data: bytes, name: str) -> Document:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # warns of every odd font on stderr
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableNotice(f"{name}: the PDF is password-protected")
        pages = reader.pages
        if len(pages) > _PDF_MAX_PAGES:
            raise UnreadableNotice(f"{name}: {len(pages)} pages; at most {_PDF_MAX_PAGES}")
        texts = [page.extract_text() or "" for page in pages]
    except UnreadableNotice:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UnreadableNotice(f"{name}: a damaged PDF ({type(exc).__name__})") from None
    text = "\n\n".join(t.strip("\n") for t in texts)
    if sum(1 for c in text if not c.isspace()) < 10:
        raise UnreadableNotice(f"{name}: the PDF has no text layer (a scan?): "
                               "OCR it first, then extract from the text")
    return Document(text, "pdf", name, pages=len(texts))


def _docx(data: bytes, name: str) -> Document:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise UnreadableNotice(f"{name}: a damaged ZIP/DOCX file") from None
    if "word/document.xml" not in names:
        kind = ("a spreadsheet (.xlsx)" if "xl/workbook.xml" in names else
                "an OpenDocument file" if "content.xml" in names else "a ZIP archive")
        raise UnreadableNotice(f"{name}: {kind}, not a Word document; "
                               "save the notice as .docx, PDF or text")
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises whatever its XML layer meets
        raise UnreadableNotice(f"{name}: a damaged DOCX file ({type(exc).__name__})") from None
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            lines.append(block.text)
        elif isinstance(block, Table):
            # A schedule is often a table: one line per row, cells in reading order.
            for row in block.rows:
                cells = list(dict.fromkeys(c.text.strip() for c in row.cells))
                lines.append("；".join(c for c in cells if c))
    text = "\n".join(lines).strip()
    if not text:
        raise UnreadableNotice(f"{name}: the Word document has no text")
    return Document(text, "docx", name)
