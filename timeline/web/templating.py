"""The Jinja2 environment the pages are rendered with: autoescape on for every template.

Whatever a template outputs is escaped unless it is `Markup` made in code: the stylesheet,
the chart's SVG and the QR code (each built from escaped parts), and search highlights
(`timeline.web.search`, which escapes the text before it marks the matches).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

__all__ = ["environment", "render"]


@cache
def environment() -> Environment:
    return Environment(
        # Package data: found inside an installed wheel as in a checkout.
        loader=PackageLoader("timeline.web", "templates"),
        autoescape=True,  # every template, whatever its name ends with
        undefined=StrictUndefined,  # a misspelt name fails the render, not a blank
        trim_blocks=True, lstrip_blocks=True,
        auto_reload=False,  # templates change with a release, not while running
    )


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
