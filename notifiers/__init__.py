"""Notifier plugins: one module per service, all behind `notifiers.base.Notifier`.

Built-in notifiers are registered in the `timeline.notifiers` entry-point group exactly like
a third party's, and found through `notifiers.registry`.
"""

from __future__ import annotations

from notifiers.base import Message, MessageItem, Notifier, SendResult

__all__ = ["Message", "MessageItem", "Notifier", "SendResult"]
