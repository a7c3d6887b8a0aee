"""policy-timeline: dated items from public policy news, as reminders and a calendar feed."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
