"""The main text of an HTML page: the notice itself, without the site around it.

Government and newspaper pages wrap a notice in navigation, breadcrumbs, a search form,
share buttons, "related articles" and a footer with the site's 备案号 and copyright years,
all full of numbers that look like dates. The rules: drop what is never content (scripts,
forms, nav, header, footer, aside and blocks whose class or id says so), then take the
element the page marks as its article, or else the block holding most of the text in
paragraphs, plus the page's headline.
"""

from __future__ import annotations

import re

from lxml import etree, html

__all__ = ["main_text"]

_NEVER = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside",
          "form", "button", "select", "input", "textarea", "iframe", "object", "svg",
          "canvas", "menu", "dialog")
# class/id words of the site around a notice (English and the pinyin Chinese sites use).
_CHROME = re.compile(
    r"(^|[\s_-])(nav|navbar|menu|breadcrumb|crumbs?|bread|footer|foot|bottom|header|top|"
    r"topbar|banner|sidebar|side|aside|share|bdshare|social|copyright|copy|login|search|"
    r"related|relevant|recommend|links?|friendlink|toolbar|tools|print|qrcode|ewm|"
    r"weizhi|dqwz|daohang|xgwz|xgxx|fenxiang|gjl|ad|ads|advert)([\s_-]|$)", re.IGNORECASE)
# class/id words of the article itself (TRS_Editor and zoom are the CMS of many gov sites).
_ARTICLE = re.compile(
    r"(^|[\s_-])(article|content|contents|main-?text|maintext|main|detail|details|"
    r"text|zoom|trs_editor|trs_paper|con|conTxt|zw|zhengwen|news_?content|pages?_?content|"
    r"entry|post|body)([\s_-]|$)", re.IGNORECASE)
_BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table",
          "section", "article", "blockquote", "pre", "dd", "dt", "ul", "ol", "hr", "center"}
_HEADLINE = ("h1", "h2")


def _chrome(element: etree._Element) -> bool:
    marks = f"{element.get('class', '')} {element.get('id', '')} {element.get('role', '')}"
    return bool(marks.strip()) and bool(_CHROME.search(marks)) and not _ARTICLE.search(
        f"{element.get('class', '')} {element.get('id', '')}")


def _text_of(element: etree._Element) -> str:
    """Text with a line break at every block boundary, as the page shows it."""
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in _BLOCK:
            parts.append("\n")
        if node.text and tag:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if tag in ("td", "th"):
            parts.append("；")  # cells of a schedule table: one clause each
        if tag in _BLOCK:
            parts.append("\n")

    walk(element)
    lines = (" ".join(line.split()) for line in "".join(parts).replace("\xa0", " ").split("\n"))
    return "\n".join(line.strip("；") for line in lines if line.strip("；"))


def _paragraph_text(element: html.HtmlElement) -> int:
    return sum(len((p.text_content() or "").strip()) for p in element.iter("p"))


def main_text(page: str) -> str:
    """The notice's text from an HTML page (its headline first, if the page has one)."""
    try:
        root = html.document_fromstring(page)
    except (etree.ParserError, ValueError):
        return ""
    for bad in list(root.iter(etree.Comment, etree.ProcessingInstruction)):
        bad.drop_tree()
    for element in list(root.iter(*_NEVER)):
        element.drop_tree()
    for element in list(root.iter()):
        if isinstance(element.tag, str) and element.getparent() is not None \
                and _chrome(element):
            element.drop_tree()
    found = root.find("body")
    body = found if found is not None else root
    marked = [e for e in body.iter("article", "div", "section", "td")
              if e.tag == "article" or _ARTICLE.search(f"{e.get('class', '')} {e.get('id', '')}")]
    candidates = marked or [e for e in body.iter("div", "section", "td", "body")]
    best = max(candidates, key=_paragraph_text, default=body)
    if _paragraph_text(best) == 0:
        # No <p> at all (text in <br>-separated divs): the block with the most text.
        best = max((e for e in body.iter("div", "td", "section")),
                   key=lambda e: len(e.text_content() or ""), default=body)
    text = _text_of(best)
    headline = next((h for h in root.iter(*_HEADLINE) if (h.text_content() or "").strip()),
                    None)
    title = " ".join((headline.text_content() if headline is not None
                      else (root.findtext(".//title") or "")).split())
    if title and title not in text[:len(title) + 200]:
        text = f"{title}\n{text}"
    return text
