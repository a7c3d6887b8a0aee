"""One notice in every form `timeline extract` reads, made in the test (no binary fixtures):
UTF-8, GBK, UTF-16, an HTML page with a site around it, a Word file, a PDF."""

from __future__ import annotations

import io
from pathlib import Path

DATA = Path(__file__).parent / "data" / "extract"


def notice_text(name: str = "subsidy-call") -> str:
    return (DATA / f"{name}.txt").read_text(encoding="utf-8")


def as_html(text: str) -> bytes:
    paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
    title, body = paragraphs[0], paragraphs[1:]
    rows = "\n".join(f"<p>{p}</p>" for p in body)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>{title}_西江市人民政府</title>
<script>var built = "2019-01-01";</script><style>p {{ margin: 0 }}</style></head><body>
<div class="header"><a href="/">首页</a> 今天是2025年2月21日 星期五
<form><input name="q"></form></div>
<div class="nav"><a href="/a">政务公开</a> <a href="/b">2024年度报告</a></div>
<div class="content"><h1>{title}</h1>{rows}</div>
<div class="sidebar"><ul><li>2024年12月31日前办结事项</li><li>2023年度决算</li></ul></div>
<div class="footer">版权所有 2008-2025 西江市人民政府 赣ICP备12003456号 电话：0797-8226000</div>
</body></html>""".encode()


def as_docx(text: str) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in text.split("\n"):
        if paragraph.strip():
            document.add_paragraph(paragraph.strip())
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def as_pdf(text: str, *, width: int = 28, pages: int | None = None) -> bytes:
    """The text set in a narrow column, as a PDF of a notice or a newspaper page has it:
    lines wrapped at `width` characters, a blank line between paragraphs."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        paragraph = paragraph.strip()
        if paragraph:
            lines += [paragraph[i:i + width] for i in range(0, len(paragraph), width)]
            lines.append("")
    per_page = 48
    total = pages or -(-len(lines) // per_page)
    for page in range(total):
        sheet.setFont("STSong-Light", 11)
        chunk = lines[(page * per_page) % max(len(lines), 1):][:per_page] if pages else \
            lines[page * per_page:(page + 1) * per_page]
        for row, line in enumerate(chunk):
            sheet.drawString(60, 800 - row * 15, line)
        sheet.showPage()
    sheet.save()
    return buffer.getvalue()


def scanned_pdf() -> bytes:
    """A PDF with a page of pixels and no text layer, as a scanner makes it."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer)
    png = _grey_png()
    sheet.drawImage(ImageReader(io.BytesIO(png)), 50, 400, width=400, height=300)
    sheet.showPage()
    sheet.save()
    return buffer.getvalue()


def _grey_png() -> bytes:
    import struct
    import zlib

    width, height = 40, 30
    raw = b"".join(b"\x00" + bytes([(x * 7 + y * 3) % 256 for x in range(width)])
                   for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
