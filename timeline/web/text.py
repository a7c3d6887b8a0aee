"""The page's words in zh-CN and English, kept apart from the markup that uses them."""

from __future__ import annotations

from timeline.formatting import Lang

__all__ = ["HTML_LANG", "KIND", "TEXT", "WEEKDAYS", "kind_label", "t"]

HTML_LANG: dict[Lang, str] = {"zh": "zh-CN", "en": "en"}

TEXT: dict[str, tuple[str, str]] = {
    "title": ("政策时间表", "Policy timeline"),
    "tagline": ("从政策新闻中整理的截止日期、受理期和定期事项。日期按原文的精度显示。",
                "Deadlines, application windows and recurring items from policy news. "
                "Dates are shown as precisely as the source gives them."),
    "switch": ("English", "中文"),
    "today": ("今天", "Today"),
    "upcoming": ("即将到来", "Coming up"),
    "nothing_upcoming": ("暂无未到期的截止日期或受理期。", "No open deadlines or windows."),
    "recurring_next": ("近期定期事项", "Recurring soon"),
    "chart": ("时间轴", "Timeline"),
    "chart_desc": ("各阶段、受理期和截止日期的时间轴，红线为今天。",
                   "Phases, windows and deadlines over the years; the red line is today."),
    "chart_hidden": ("另有 {n} 项不在 {first}–{last} 年范围内，未画出（见事项列表）。",
                     "{n} item(s) outside {first}–{last} are not drawn (see the item lists)."),
    "legend": ("图例", "Legend"),
    "legend_approx": ("空心/虚线：日期为约数或只知年月", "hollow/dashed: approximate, "
                      "month- or year-only date"),
    "stories": ("报道与事项", "Stories and items"),
    "published": ("报道时间", "Published"),
    "subscribe": ("订阅日历", "Subscribe"),
    "subscribe_help": ("在手机或电脑的日历应用中订阅，日程更新后会自动同步。",
                       "Subscribe in your phone's or computer's calendar app; "
                       "changes arrive by themselves."),
    "webcal": ("用日历应用订阅（webcal）", "Subscribe in your calendar app (webcal)"),
    "google": ("添加到 Google 日历", "Add to Google Calendar"),
    "copy_url": ("或复制订阅地址：", "Or copy the feed address:"),
    "qr": ("手机扫码订阅", "Scan with your phone to subscribe"),
    "by_tag": ("按标签订阅", "Feeds by tag"),
    "by_story": ("按报道订阅", "Feeds by story"),
    "source": ("原文", "Source"),
    "precision": ("日期精度", "Date precision"),
    "note": ("日期说明", "How the date was read"),
    "tags": ("标签", "Tags"),
    "audience": ("对象", "For"),
    "rule": ("规律", "Rule"),
    "next_dates": ("接下来", "Next"),
    "more_info": ("详情", "More"),
    "holidays_excluded": ("节假日除外", "except public holidays"),
    "estimated": ("节假日为估算（该年安排尚未公布）",
                  "holidays estimated (not yet published for that year)"),
    "days_left": ("还剩 {n} 天", "{n} days left"),
    "days_left_approx": ("约还剩 {n} 天", "about {n} days left"),
    "closes_in": ("受理中，还剩 {n} 天截止", "open, closes in {n} days"),
    "closes_today": ("受理中，今天截止", "open, closes today"),
    "due_today": ("今天截止", "due today"),
    "opens_in": ("{n} 天后开始受理", "opens in {n} days"),
    "open_start": ("开始日不详", "opening day not given"),
    "until": ("截止", "until"),
    "api": ("数据接口", "API"),
    "version": ("数据版本", "Data version"),
    "as_of": ("按 {day} 计算", "as of {day}"),
    "approx_mark": ("约", "approx."),
    "chart_capped": ("只画出离今天最近的 {shown} 项，另有 {n} 项未画出（见列表）。",
                     "Only the {shown} items nearest today are drawn; {n} more are in the "
                     "lists."),
    "chart_home": ("此处只画出上方列出的事项；各报道的完整时间轴见报道页。",
                   "Only the items listed above are drawn; each story's page has its whole "
                   "timeline."),
    "jump_today": ("跳到今天", "Jump to today"),
    "deadlines_soon": ("即将截止", "Deadlines coming up"),
    "open_now": ("正在受理", "Open now"),
    "nothing_open": ("目前没有正在受理的事项。", "Nothing is open for applications now."),
    "recurring_week": ("本周定期事项", "Recurring this week"),
    "past": ("已过去", "Past"),
    "past_count": ("已过去的事项（{n}）", "Past items ({n})"),
    "more_not_listed": ("另有 {n} 项未列出，可用搜索查找。",
                        "{n} more are not listed; search to find them."),
    "story_index": ("报道", "Stories"),
    "col_story": ("报道", "Story"),
    "col_source": ("来源", "Source"),
    "col_date": ("报道时间", "Published"),
    "col_items": ("事项数", "Items"),
    "col_next": ("下一个日期", "Next date"),
    "tag_index": ("标签", "Tags"),
    "tag_title": ("标签：{tag}", "Tag: {tag}"),
    "tag_intro": ("各报道中带有此标签的事项。", "The items of every story with this tag."),
    "items": ("事项", "Items"),
    "no_items": ("没有未过去的事项。", "No current or coming items."),
    "all_stories": ("全部报道", "All stories"),
    "story_feed": ("订阅此报道", "Subscribe to this story"),
    "tag_feed": ("订阅此标签", "Subscribe to this tag"),
    "search": ("搜索", "Search"),
    "search_label": ("搜索标题、说明和原文", "Search titles, descriptions and quotes"),
    "search_in_story": ("在本报道中搜索", "Search this story"),
    "search_in_tag": ("在此标签中搜索", "Search this tag"),
    "results": ("“{q}”的搜索结果：{n} 项", "{n} result(s) for “{q}”"),
    "results_shown": ("显示前 {n} 项。", "Showing the first {n}."),
    "no_results": ("没有找到。", "Nothing found."),
    "clear_search": ("清除搜索", "Clear the search"),
    "in_story": ("所属报道", "Story"),
    "page_label": ("版面", "Page"),
    "feed": ("订阅", "subscribe"),
}

KIND: dict[str, tuple[str, str]] = {
    "deadline": ("截止", "deadline"),
    "window": ("受理期", "window"),
    "happening": ("事件", "event"),
    "recurring": ("定期", "recurring"),
}

WEEKDAYS: dict[str, tuple[str, str]] = {
    "mon": ("周一", "Mon"), "tue": ("周二", "Tue"), "wed": ("周三", "Wed"),
    "thu": ("周四", "Thu"), "fri": ("周五", "Fri"), "sat": ("周六", "Sat"),
    "sun": ("周日", "Sun"),
}


def t(key: str, lang: Lang, **values: object) -> str:
    zh, en = TEXT[key]
    text = zh if lang == "zh" else en
    if lang == "en" and values.get("n") == 1:
        text = text.replace("{n} days", "{n} day")  # "1 day left", "opens in 1 day"
    return text.format(**values) if values else text


def kind_label(kind: str, lang: Lang) -> str:
    zh, en = KIND[kind]
    return zh if lang == "zh" else en
