"""Dates and durations in words, zh-CN by default and English on request.

A date is shown with the precision it really has: an approximate anchor reads "约2024年4月",
a year-end deadline "2025年底前", never a made-up exact day.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from timeline.model import Precision

__all__ = ["Lang", "format_when", "precision_label", "precision_suffix"]

Lang = Literal["zh", "en"]
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
_PRECISION = {
    Precision.DAY: ("精确到日", "exact day"),
    Precision.MONTH: ("精确到月", "month only"),
    Precision.MONTH_END: ("月底前", "by month-end"),
    Precision.QUARTER: ("精确到季度", "quarter only"),
    Precision.HALF_YEAR: ("精确到半年", "half-year only"),
    Precision.YEAR: ("精确到年", "year only"),
    Precision.YEAR_END: ("年底前", "by year-end"),
    Precision.APPROXIMATE: ("约数", "approximate"),
}


# Appended to a title wherever the date alone would look more exact than it is.
_SUFFIX = {
    Precision.DAY: ("", ""),
    Precision.APPROXIMATE: ("（日期为约数）", " (approximate date)"),
    Precision.MONTH: ("（仅知月份）", " (month only)"),
    Precision.MONTH_END: ("（月底前）", " (by month-end)"),
    Precision.QUARTER: ("（仅知季度）", " (quarter only)"),
    Precision.HALF_YEAR: ("（仅知半年）", " (half-year only)"),
    Precision.YEAR: ("（仅知年份）", " (year only)"),
    Precision.YEAR_END: ("（年底前）", " (by year-end)"),
}


def precision_suffix(precision: Precision, lang: Lang = "zh") -> str:
    zh, en = _SUFFIX[precision]
    return zh if lang == "zh" else en


def precision_label(precision: Precision, lang: Lang = "zh") -> str:
    zh, en = _PRECISION[precision]
    return zh if lang == "zh" else en


def format_when(value: date | datetime | None, precision: Precision = Precision.DAY,
                lang: Lang = "zh") -> str:
    """The date as a reader should see it, given how precisely the source gave it."""
    if value is None:
        return "—"
    day = value.date() if isinstance(value, datetime) else value
    zh = lang == "zh"
    if precision is Precision.DAY:
        if isinstance(value, datetime):
            # "YYYY-MM-DD HH:MM": the same as strftime, at a fifth of its cost.
            return value.isoformat(sep=" ", timespec="minutes")[:16]
        return day.isoformat()
    if precision is Precision.MONTH:
        return f"{day.year}年{day.month}月" if zh else f"{_MONTHS_EN[day.month - 1]} {day.year}"
    if precision is Precision.MONTH_END:
        return f"{day.year}年{day.month}月底前" if zh else \
            f"by the end of {_MONTHS_EN[day.month - 1]} {day.year}"
    if precision is Precision.HALF_YEAR:
        half = 1 if day.month <= 6 else 2
        return f"{day.year}年{'上' if half == 1 else '下'}半年" if zh else f"H{half} {day.year}"
    if precision is Precision.QUARTER:
        quarter = (day.month - 1) // 3 + 1
        return f"{day.year}年第{quarter}季度" if zh else f"Q{quarter} {day.year}"
    if precision is Precision.YEAR:
        return f"{day.year}年" if zh else str(day.year)
    if precision is Precision.YEAR_END:
        return f"{day.year}年底前" if zh else f"by the end of {day.year}"
    if zh:
        return f"约{day.year}年{day.month}月"
    return f"around {_MONTHS_EN[day.month - 1]} {day.year}"
