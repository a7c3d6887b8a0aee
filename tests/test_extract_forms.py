"""Each way Chinese notices write a date, read as the events schema has it: one row per form
(text, publication day, expected kind, dates, precision), and one per thing that looks like a
date and is not an event (expected skip reason). Pure functions: no files, no daemon."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from timeline.extract import Published, extract_document
from timeline.extract.read import Document
from timeline.model import Precision

PUB = Published(date(2025, 2, 20), Precision.DAY, "--published")


def run(text: str, published: Published | None = PUB) -> Any:
    return extract_document(Document(text, "text", "notice.txt"), published=published)


def only(text: str, published: Published | None = PUB) -> Any:
    found = run(text, published).candidates
    assert len(found) == 1, [(c.event.kind, c.evidence.quote) for c in found]
    return found[0].event


def fields(event: Any) -> dict[str, str]:
    data = event.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    keep = ("due", "start", "end", "date", "weekdays", "every", "rrule", "within", "except",
            "start_label", "duration")
    dates = ("due", "start", "end", "date")  # 2025-04-15T17:30:00 → 2025-04-15T17:30
    return {k: v[:16] if k in dates and isinstance(v, str) else v
            for k, v in data.items() if k in keep}


FORMS = [
    # absolute dates in every numeral form
    ("请于2025年3月31日前提交材料。", "deadline", {"due": "2025-03-31"}, "day"),
    ("请于２０２５年３月３１日前提交材料。", "deadline", {"due": "2025-03-31"}, "day"),
    ("请于二〇二五年十二月三十一日前提交材料。", "deadline", {"due": "2025-12-31"}, "day"),
    ("请于 2025 年 5 月 31 日前提交材料。", "deadline", {"due": "2025-05-31"}, "day"),
    ("现场会定于2025.8.6召开。", "happening", {"date": "2025-08-06"}, "day"),
    ("现场会定于2025-5-6召开。", "happening", {"date": "2025-05-06"}, "day"),
    ("请于2025/05/31前报送。", "deadline", {"due": "2025-05-31"}, "day"),
    # times of day
    ("材料报送截止时间为2025年4月15日17:30。", "deadline", {"due": "2025-04-15T17:30"}, "day"),
    ("请于2025年4月15日下午5时前报送。", "deadline", {"due": "2025-04-15T17:00"}, "day"),
    ("请于2025年4月2日中午12:00前缴费。", "deadline", {"due": "2025-04-02T12:00"}, "day"),
    ("网上申报系统将于2025年3月31日24时关闭。", "deadline", {"due": "2025-04-01T00:00"}, "day"),
    ("开标时间:2024年4月9日上午9时30分。", "happening", {"date": "2024-04-09T09:30"}, "day"),
    ("笔试定于2025年4月12日(星期六)上午9:00-11:30举行。", "happening",
     {"date": "2025-04-12T09:00", "end": "2025-04-12T11:30"}, "day"),
    # no year: the publication's, or next year's for a deadline well before it
    ("请于3月31日前报送。", "deadline", {"due": "2025-03-31"}, "day"),
    ("请于1月10日前报送。", "deadline", {"due": "2026-01-10"}, "day"),
    ("4月10日，管委会召开宣贯会。", "happening", {"date": "2025-04-10"}, "day"),
    # ranges
    ("申报时间自2025年3月3日起至2025年3月31日止。", "window",
     {"start": "2025-03-03", "end": "2025-03-31"}, "day"),
    ("申报时间为2025年3月1日至3月31日。", "window",
     {"start": "2025-03-01", "end": "2025-03-31"}, "day"),
    ("报名时间:2025年3月25日—4月5日。", "window",
     {"start": "2025-03-25", "end": "2025-04-05"}, "day"),
    ("征求意见时间为2025年3月1日～3月15日。", "window",
     {"start": "2025-03-01", "end": "2025-03-15"}, "day"),
    ("认证工作从6月3日到8月29日集中开展,老人可到社区办理认证。", "window",
     {"start": "2025-06-03", "end": "2025-08-29"}, "day"),
    ("展览从2025年5月1日到5月7日在市博物馆举行。", "happening",
     {"date": "2025-05-01", "end": "2025-05-07"}, "day"),
    ("报名时间为2025年3月25日9:00至3月31日17:00。", "window",
     {"start": "2025-03-25T09:00", "end": "2025-03-31T17:00"}, "day"),
    # open starts: the publication day
    ("即日起至2025年5月31日受理申请。", "window",
     {"start": "2025-02-20", "end": "2025-05-31"}, "day"),
    ("自工作方案发布之日起至2025年5月31日受理申请。", "window",
     {"start": "2025-02-20", "end": "2025-05-31"}, "day"),
    # deadlines
    ("各单位于2025年6月30日以前报送。", "deadline", {"due": "2025-06-30"}, "day"),
    ("截至2025年6月30日,逾期视为放弃。", "deadline", {"due": "2025-06-30"}, "day"),
    ("到2025年底前,建成绿电产业园区。", "deadline", {"due": "2025-12-31"}, "year-end"),
    ("到2027年底前基本完成改造任务。", "deadline", {"due": "2027-12-31"}, "year-end"),
    # starts
    ("本办法自2025年5月1日起施行。", "happening", {"date": "2025-05-01"}, "day"),
    ("本方案自印发之日起施行。", "happening", {"date": "2025-02-20"}, "day"),
    ("自2025年7月1日起实行收费管理。", "happening", {"date": "2025-07-01"}, "day"),
    ("自2025年5月1日开始受理补贴申请。", "happening", {"date": "2025-05-01"}, "day"),
    # periods and vague dates
    ("2025年年末,对项目开展绩效评价。", "happening", {"date": "2025-12-31"}, "year-end"),
    ("各区于6月底前完成摸底。", "deadline", {"due": "2025-06-30"}, "month-end"),
    ("上半年完成项目开工率60%以上。", "deadline", {"due": "2025-06-30"}, "half-year"),
    ("第三季度,委托第三方开展中期评估。", "happening", {"date": "2025-07-01"}, "quarter"),
    ("年内完成86个小区改造任务。", "deadline", {"due": "2025-12-31"}, "year-end"),
    ("计划开工日期为2025年6月。", "happening", {"date": "2025-06-01"}, "month"),
    ("面试拟于5月中旬进行。", "happening", {"date": "2025-05-15"}, "approximate"),
    ("近日,全省首个教育基地开馆。", "happening", {"date": "2025-02-20"}, "approximate"),
    ("日前,教育部公布了典型案例。", "happening", {"date": "2025-02-20"}, "approximate"),
    ("近期将出台奖补办法。", "happening", {"date": "2025-02-20"}, "approximate"),
    ("自《指导意见》出台两年多以来,全省已处理7例。", "happening", {"date": "2023-02-20"},
     "approximate"),
    ("展现1964年至1980年期间的历史。", "happening",
     {"date": "1964-01-01", "end": "1980-12-31"}, "year"),
    ("我市于2018年出台了管理办法。", "happening", {"date": "2018-01-01", "end": "2018-12-31"},
     "year"),
    # recurrences
    ("车主可于每周二、周五全天(节假日除外)前往办理。", "recurring",
     {"weekdays": ["tue", "fri"], "except": ["cn-holidays"], "start": "2025-02-20"}, "day"),
    ("每周一至周五(节假日除外)上午9:00-12:00提供咨询。", "recurring",
     {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "except": ["cn-holidays"],
      "start": "2025-02-20T09:00", "duration": "3h"}, "day"),
    ("各区于每月5日前报送进展。", "recurring",
     {"rrule": "FREQ=MONTHLY;BYMONTHDAY=5", "start": "2025-02-20"}, "day"),
    ("每季度末,对各区进度进行通报。", "recurring",
     {"rrule": "FREQ=MONTHLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1", "start": "2025-02-20"},
     "quarter"),
    ("每年12月,组织年度考核。", "recurring", {"rrule": "FREQ=YEARLY;BYMONTH=12",
                                      "start": "2025-12-01"}, "month"),
    ("每年互派20名以上教师交流。", "recurring", {"every": "yearly", "start": "2025-02-20"},
     "approximate"),
    ("设定3年联盟办园合作时限。", "recurring", {"every": "3 years", "start": "2028-02-20"},
     "approximate"),
]


@pytest.mark.parametrize(("text", "kind", "dates", "precision"), FORMS,
                         ids=[row[0][:18] for row in FORMS])
def test_form(text: str, kind: str, dates: dict[str, Any], precision: str) -> None:
    event = only(text)
    assert event.kind == kind
    assert fields(event) == dates
    assert event.precision.value == precision


def test_a_year_less_date_says_where_its_year_came_from() -> None:
    event = only("请于3月31日前报送。")
    assert "年份取自发布日期" in event.note
    later = only("请于1月10日前报送。")
    assert "2026年" in later.note


def test_without_a_publication_day_the_year_comes_from_the_text_with_low_confidence() -> None:
    found = run("2025年工作要点。请于3月31日前报送材料。", None).candidates
    assert [str(c.event.due) for c in found] == ["2025-03-31"]
    assert found[0].confidence < 0.6 and "请核对" in found[0].event.note


def test_an_open_start_without_an_exact_publication_day_is_a_label() -> None:
    about = Published(date(2024, 4, 10), Precision.APPROXIMATE, "--published")
    event = only("自工作方案发布之日起至2024年5月31日受理申请。", about)
    assert event.start is None
    assert event.start_label == "自工作方案发布之日起（约2024年4月）"


def test_three_year_term_has_low_confidence() -> None:
    found = run("设定3年联盟办园合作时限。").candidates
    assert found[0].confidence < 0.6


def test_office_hours_lie_within_the_windows_before_them() -> None:
    text = ("受理期限为:自工作方案发布之日起至2025年5月31日,受理某类车辆;2025年6月4日至"
            "2025年7月30日,受理另一类车辆。车主可于每周二、周五全天(节假日除外)前往办理。")
    events = [c.event for c in run(text).candidates]
    # 3 June 2025 is a Tuesday between the windows: one item per window, not one through it
    assert [e.kind for e in events] == ["window", "window", "recurring", "recurring"]
    assert [e.within for e in events[2:]] == [events[0].id, events[1].id]
    in_2024 = Published(date(2024, 4, 10), Precision.DAY, "--published")
    seed_like = text.replace("2025", "2024")
    events = [c.event for c in run(seed_like, in_2024).candidates]
    # in 2024 no Tuesday or Friday falls between 31 May and 4 June: one item spans both
    assert [e.kind for e in events] == ["window", "window", "recurring"]
    assert (str(events[2].start), str(events[2].end)) == ("2024-04-10", "2024-07-30")
    one = run("申报时间为2025年3月1日至3月31日。咨询时间为每周二、周五(节假日除外)。").candidates
    assert one[1].event.within == one[0].event.id


def test_daily_hours_in_a_window_are_the_windows_own() -> None:
    text = ("请于2025年3月19日至2025年3月25日(法定节假日除外)每日上午9:00-11:30,"
            "下午14:00-17:00购买招标文件。")
    events = [c.event for c in run(text).candidates]
    assert [e.kind for e in events] == ["window"]
    training = "培训时间为2025年11月18日至21日,每天上午8:30-12:00、下午14:30-17:30授课。"
    assert [c.event.kind for c in run(training).candidates] == ["happening"]


NOT_EVENTS = [
    ("受理2011年8月1日至2012年3月31日在我市行政区域注册登记的柴油货车。", "criterion"),
    ("申报人须为1989年4月1日以后出生。", "criterion"),
    ("2024年度主营业务收入不低于2000万元。", "criterion"),
    ("工作经历时间计算截止到2025年3月31日。", "criterion"),
    ("项目须为2023年1月1日至2024年12月31日期间开工建设。", "criterion"),
    ("根据西工信〔2024〕12号文件精神。", "document-number"),
    ("排放达到GB 17691-2018标准。", "standard"),
    ("项目编号:XM-20240315-01。", "code"),
    ("根据《2024年老旧车辆淘汰工作方案》。", "title"),
    ("2024年老旧车辆第一批提前淘汰补贴政策。", "title"),
    ("评审时间另行通知。", "tbd"),
    ("请自收到通知之日起5个工作日内补正。", "relative-unknown"),
    ("体检在面试结束后一周内进行。", "relative-unknown"),
    ("公示期为7个工作日。", "duration"),
    ("截至2024年底,全省已完成改造386个。", "history"),
    ("“每天跨区接送确实麻烦,但确实想让孩子上好幼儿园!”", "speech"),
]


@pytest.mark.parametrize(("text", "reason"), NOT_EVENTS, ids=[r[0][:18] for r in NOT_EVENTS])
def test_not_an_event(text: str, reason: str) -> None:
    extraction = run(text)
    assert extraction.candidates == []
    assert [s.reason for s in extraction.skipped] == [reason]
    assert extraction.skipped[0].detail


@pytest.mark.parametrize("text", [
    "补贴重型3.6万元、中型2.2万元、轻型9000元。", "绿电供应达到60%,清洁能源达到80%。",
    "地址:城东区八一东路23-1号302室。", "联系电话:0971-8123456,13907971234。",
    "年龄在35周岁以下。", "占地1248平方米,展出261件老物件。", "省委十四届四次全会提出。",
])
def test_numbers_that_are_no_dates_are_not_even_mentioned(text: str) -> None:
    extraction = run(text)
    assert extraction.candidates == [] and extraction.skipped == []


def test_the_signature_date_is_the_publication_not_an_event() -> None:
    text = "关于申报的通知\n请于3月31日前报送。\n西江市工业和信息化局\n2025年2月20日"
    extraction = run(text, None)
    assert extraction.published is not None
    assert (extraction.published.day, extraction.published.origin) == (date(2025, 2, 20),
                                                                        "signature")
    assert [str(c.event.due) for c in extraction.candidates] == ["2025-03-31"]
    assert [s.reason for s in extraction.skipped] == ["published"]


def test_a_header_date_in_chinese_numerals() -> None:
    text = "关于举办培训班的通知\n发布日期:二〇二五年三月二十日\n请于4月10日前报名。"
    extraction = run(text, None)
    assert extraction.published is not None and extraction.published.origin == "header"
    assert str(extraction.candidates[0].event.due) == "2025-04-10"


HOSTILE = {
    "digits": "1" * 60000,
    "years": "2024年" * 12000,
    "ranges": "2024年5月31日至" * 6000,
    "chinese numerals": "二〇二五年十二月三十一日" * 5000,
    "weekdays": "每周一、二、三、四、五、六、日" * 4000,
    "open starts": "自工作方案发布之日起至" * 5000,
    "no sentence end": "请于2025年3月31日前提交" * 4000,
    "quotes": "“每天好”" * 10000,
    "titles": "《2024年》" * 8000,
    "capitals": "A" * 60000,
    "bylines": "本报讯（记者王琼）近日，开馆。\n" * 4000,
    "headlines": "标题一二三四五六七\n" * 10000,
    "blank lines": "\n" * 60000 + "请于2025年3月31日前报送。",
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_text_is_read_in_bounded_time(case: str) -> None:
    """Each of these once took minutes (a count without a bound, a search to the end of the
    text per date): extraction stays linear. The limit is ten times what it takes."""
    import time

    started = time.perf_counter()
    run(HOSTILE[case])
    assert time.perf_counter() - started < 10


def test_a_text_longer_than_any_notice_is_refused() -> None:
    from timeline.extract import UnreadableNotice, extract

    with pytest.raises(UnreadableNotice, match="more than a notice"):
        extract(("请于2025年3月31日前提交。" * 200_000).encode(), "huge.txt")


DECEMBER = Published(date(2025, 12, 10), Precision.DAY, "--published")
LATE_IN_THE_YEAR = [
    ("1月15日至1月20日报名。", "window", {"start": "2026-01-15", "end": "2026-01-20"}, "day"),
    ("12月20日至1月10日报名。", "window", {"start": "2025-12-20", "end": "2026-01-10"}, "day"),
    ("1月15日召开培训会。", "happening", {"date": "2026-01-15"}, "day"),
    ("12月1日召开了培训会。", "happening", {"date": "2025-12-01"}, "day"),
    ("公示时间:2025年12月11日至12月17日。", "window",
     {"start": "2025-12-11", "end": "2025-12-17"}, "day"),
    ("请于二零二六年元月五日前报送。", "deadline", {"due": "2026-01-05"}, "day"),
    ("春节前完成。", "deadline", {"due": "2026-02-17"}, "day"),
    ("本月25日前报送。", "deadline", {"due": "2025-12-25"}, "day"),
    ("下月10日前报送。", "deadline", {"due": "2026-01-10"}, "day"),
    ("本周五前报送。", "deadline", {"due": "2025-12-12"}, "day"),
    ("请自本通知发布之日起30日内报送。", "deadline", {"due": "2026-01-09"}, "day"),
    ("请自本通知发布之日起5个工作日内报送。", "deadline", {"due": "2025-12-17"}, "day"),
    ("每月1日、15日发放。", "recurring",
     {"rrule": "FREQ=MONTHLY;BYMONTHDAY=1,15", "start": "2025-12-10"}, "day"),
    ("2026年1月8日、9日召开培训会。", "happening",
     {"date": "2026-01-08", "end": "2026-01-09"}, "day"),
    ("2026年3月31日前后召开。", "happening", {"date": "2026-03-31"}, "approximate"),
    ("有效期至2026年12月31日。", "deadline", {"due": "2026-12-31"}, "day"),
    ("周一至周五9:00-17:00(节假日除外)受理。", "recurring",
     {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "except": ["cn-holidays"],
      "start": "2025-12-10T09:00", "duration": "8h"}, "day"),
    ("每周一至周五上午9:00-12:00、下午14:00-17:30(法定节假日除外)受理。", "recurring",
     {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "except": ["cn-holidays"],
      "start": "2025-12-10T09:00", "duration": "510m"}, "day"),
    ("决定于2026年3月12日(植树节)上午9时举办植树活动。", "happening",
     {"date": "2026-03-12T09:00"}, "day"),
]


@pytest.mark.parametrize(("text", "kind", "dates", "precision"), LATE_IN_THE_YEAR,
                         ids=[row[0][:18] for row in LATE_IN_THE_YEAR])
def test_form_in_a_notice_of_december(text: str, kind: str, dates: dict[str, Any],
                                      precision: str) -> None:
    """A date without a year in a notice of 10 December: next year's when it is well
    before the notice's day, both ends of a range together; told as past, this year's."""
    event = only(text, DECEMBER)
    assert (event.kind, fields(event), event.precision.value) == (kind, dates, precision)


@pytest.mark.parametrize(("text", "reason"), [
    ("根据国家税务总局公告2025年第3号规定执行。", "document-number"),
    ("2026年1月32日前报送。", "invalid"),
    ("2026年2月30日前报送。", "invalid"),
    ("2026年1月1日以后购车的市民可申请。", "criterion"),
    ("颁奖仪式于当日晚7时30分开始。", "relative-unknown"),
])
def test_more_that_is_not_an_event(text: str, reason: str) -> None:
    extraction = run(text, DECEMBER)
    assert extraction.candidates == []
    assert [s.reason for s in extraction.skipped] == [reason]


def test_a_date_label_is_no_publication_date_in_the_body() -> None:
    text = ("2026年上半年全市事业单位公开招聘考试公告\n一、报名日期:2026年3月1日至3月10日\n"
            "二、考试日期:2026年4月12日上午9:00\n某某市人力资源和社会保障局")
    extraction = run(text, None)
    assert extraction.published is None
    assert [c.event.kind for c in extraction.candidates] == ["window", "happening"]
    assert [s.reason for s in extraction.skipped] == ["title"]  # the headline's 上半年
