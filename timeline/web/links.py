"""The pages' URLs: stable paths, the page's language kept in every link.

A link carries `?lang=` only when the page's language is not the deployment's default, so
the default pages have the short URLs people share. Links from page to page are relative
(`../tags/x` from a story's page): shorter, the same for every Host, and right behind a proxy
that serves the app under a path. Feeds and the language switch are absolute (a calendar
app is handed the feed's address; the switch names the deployment's own).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from timeline.formatting import Lang

__all__ = ["FeedLinks", "Links"]


@dataclass(frozen=True)
class FeedLinks:
    """The ways to reach one feed: plain URL, webcal, and Google Calendar's add-by-URL."""

    https: str

    @property
    def webcal(self) -> str:
        # webcal:// tells the calendar app to subscribe rather than import once.
        return "webcal://" + self.https.split("://", 1)[-1]

    @property
    def google(self) -> str:
        return "https://calendar.google.com/calendar/r?cid=" + quote(self.webcal, safe="")


@dataclass(frozen=True)
class Links:
    base: str  # no trailing slash
    lang: Lang
    default_lang: Lang = "zh"
    here: str = "/"  # the path of the page the links are on

    @property
    def suffix(self) -> str:
        return "" if self.lang == self.default_lang else f"?lang={self.lang}"

    @property
    def other_lang(self) -> Lang:
        return "en" if self.lang == "zh" else "zh"

    def relative(self, path: str) -> str:
        """`path` (absolute, from the app's root) relative to the page the link is on."""
        up = "../" * (self.here.count("/") - 1) or "./"
        return f"{up}{path.lstrip('/')}"

    def page(self, path: str) -> str:
        return self.relative(path) + self.suffix

    def form(self) -> str:
        """Where this page's search form goes: the page itself, relative, so that it stays
        on the page's own origin (the CSP allows forms to 'self' only); the language is a
        field of the form."""
        return self.relative(self.here)

    def home(self) -> str:
        return self.page("/")

    def story(self, story: str) -> str:
        return self.page(f"/stories/{story}")

    def item(self, story: str, event: str) -> str:
        return f"{self.story(story)}#ev-{event}"

    def tag(self, tag: str) -> str:
        return self.page(f"/tags/{tag}")

    def switch(self, path: str, query: str = "") -> str:
        """The same page in the other language (named explicitly, default or not)."""
        params = {"q": query} if query else {}
        return f"{self.base}{path}?{urlencode({**params, 'lang': self.other_lang})}"

    def calendar(self) -> FeedLinks:
        return FeedLinks(f"{self.base}/calendar.ics{self.suffix}")

    def story_feed(self, story: str) -> FeedLinks:
        return FeedLinks(f"{self.base}/feeds/story/{story}.ics{self.suffix}")

    def tag_feed(self, tag: str) -> FeedLinks:
        return FeedLinks(f"{self.base}/feeds/tag/{tag}.ics{self.suffix}")
