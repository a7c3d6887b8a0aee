"""What the extractor knows about how Chinese notices write dates, as data.

Rules as data, engine as code: every word list and pattern the recognizer and the
classifier use is here, one table per concern, so a reviewer can read what the tool knows
without reading how it runs, and a new form is a new row (plus its test). The text these
apply to is normalized (`normalize.py`): ASCII digits and punctuation, no layout spaces.
"""

from __future__ import annotations

import re

# ── numbers ──────────────────────────────────────────────────────────────────────────────
CN_DIGIT = "〇零一二三四五六七八九"
CN_NUM = f"[{CN_DIGIT}十两廿卅]"
_YEAR = rf"(?P<y>(?:1[89]|2[01])\d\d|[{CN_DIGIT}]{{4}})"
_MONTH = r"(?P<m>1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九元正])"  # 元月, 正月: January
_DAY = (r"(?P<d>3[01]|[12]\d|0?[1-9]|三十一?|二十[一二三四五六七八九]?|廿[一二三四五六七八九]?"
        r"|十[一二三四五六七八九]?|[一二三四五六七八九])")

# ── parts of a year or month that are not a day, and their precision ───────────────────────
YEAR_PARTS = {  # after "2025年" (or alone after 今年/明年)
    "底": "year-end", "末": "year-end", "年底": "year-end", "年末": "year-end",
    "内": "year-end", "年内": "year-end", "全年": "year-end",
    "上半年": "h1", "下半年": "h2", "第一季度": "q1", "第二季度": "q2", "第三季度": "q3",
    "第四季度": "q4", "一季度": "q1", "二季度": "q2", "三季度": "q3", "四季度": "q4",
    "第1季度": "q1", "第2季度": "q2", "第3季度": "q3", "第4季度": "q4",
    "初": "year-start", "年初": "year-start", "年中": "mid-year",
}
MONTH_PARTS = {  # after "6月"
    "底": "month-end", "末": "month-end", "上旬": "early", "中旬": "mid", "下旬": "late",
    "初": "early", "中": "mid",
}
PART_WORDS = "|".join(sorted({*YEAR_PARTS, *MONTH_PARTS}, key=len, reverse=True))

# ── one calendar point: a date, maybe with a time of day ──────────────────────────────────
# between a date and its time: (星期六), 星期六, (植树节)
_WEEKDAY_NOTE = r"(?:\([^()\d]{1,8}\)|(?:星期|礼拜)[一二三四五六日天])?"
_TIME = (r"(?P<ampm>上午|下午|中午|晚上|早上|凌晨|傍晚|晚)?"
         r"(?P<h>2[0-4]|[01]?\d)(?:(?::|：)(?P<mi>[0-5]\d)|时(?:(?P<mi2>[0-5]?\d)分|整)?|"
         r"点(?:(?P<half>半)|(?P<mi3>[0-5]?\d)分?)?)")
_YEAR_PART = (r"(?P<ypart>上半年|下半年|第[一二三四1-4]季度|[一二三四]季度|年底|年末|年内|年初|"
              r"年中|全年|底|末|内|初)")
_MONTH_PART = r"(?P<mpart>上旬|中旬|下旬|底|末|初|中(?!心|国|央|华|小|学|期|长|层))"
POINT = re.compile(
    rf"(?<![\d.\-/])(?:"
    # 2024-5-6, 2024/05/31, 2014.8.6
    rf"(?P<ny>(?:19|20|21)\d\d)(?P<sep>[.\-/])(?P<nm>1[0-2]|0?[1-9])(?P=sep)"
    rf"(?P<nd>3[01]|[12]\d|0?[1-9])(?![\d\-/])(?!\.\d)"
    rf"|(?:{_YEAR}年(?:{_YEAR_PART}|度)?)?(?:{_MONTH}月(?:份)?(?:{_DAY}[日号]|{_MONTH_PART})?)?"
    rf")"
    rf"(?P<weekday>{_WEEKDAY_NOTE})(?P<time>{_TIME})?"
)
# "2016—2020年": the first year of a span of years written without its 年
BARE_YEAR = re.compile(r"(?<![\d.\-/])(?:19|20|21)\d\d(?=(?:—|-|~|至|到)(?:19|20|21)\d\d年)")
# "3月1日至31日": only after a range's connector
DAY_ONLY = re.compile(rf"{_DAY}[日号]{_WEEKDAY_NOTE}")
TIME_ONLY = re.compile(_TIME)

# ── relative years and months, as words ─────────────────────────────────────────────────────
RELATIVE_YEARS = {"今年": 0, "本年": 0, "本年度": 0, "当年": 0, "明年": 1, "次年": 1,
                  "来年": 1, "去年": -1, "上年": -1}
RELATIVE_YEAR = re.compile(
    r"(?P<rel>本年度|今年|本年|当年|明年|次年|来年|去年|上年)"
    rf"(?:(?P<ypart>上半年|下半年|第[一二三四1-4]季度|[一二三四]季度|年底|年末|年内|年初|底|末|内|初)"
    rf"|{_MONTH}月(?:份)?(?:{_DAY}[日号]|{_MONTH_PART})?)?")
BARE_PART = re.compile(r"(?<![年\d度])"
                       r"(?P<ypart>上半年|下半年|第[一二三四]季度|年底前|年底|年末|年内)")
RELATIVE_MONTH = re.compile(rf"(?P<rel>本月|当月|下月|次月)"
                            rf"(?:{_DAY}[日号]|(?P<mpart>底|末|上旬|中旬|下旬))?")
RELATIVE_WEEK = re.compile(r"(?P<rel>本周|下周)(?P<wd>[一二三四五六日天])")
# festivals by their Chinese names, with the name the `holidays` package gives that day
FESTIVALS = {"元旦": "New Year's Day", "春节": "Chinese New Year (Spring Festival)",
             "清明节": "Tomb-Sweeping Day", "清明": "Tomb-Sweeping Day", "劳动节": "Labor Day",
             "五一": "Labor Day", "端午节": "Dragon Boat Festival", "端午": "Dragon Boat Festival",
             "中秋节": "Mid-Autumn Festival", "中秋": "Mid-Autumn Festival",
             "国庆节": "National Day", "国庆": "National Day"}
FESTIVAL = re.compile(rf"(?:(?P<y>(?:19|20|21)\d\d)年|(?P<rel>今年|明年))?"
                      rf"(?P<name>{'|'.join(sorted(FESTIVALS, key=len, reverse=True))})"
                      rf"(?=前|以前|之前|后|期间|假期|当天|节前|放假|,|。)")
SEASONS = {"春季": 3, "夏季": 6, "秋季": 9, "冬季": 12}
SEASON = re.compile(r"(?P<y>(?:19|20|21)\d\d)年(?P<name>春季|夏季|秋季|冬季)")
INVALID_DAY = re.compile(r"(?:3[2-9]|[4-9]\d)[日号]")  # after a month: "1月32日" is no day
SAME_DAY = re.compile(r"(?:当日|当天|次日|翌日)(?:上午|下午|晚上|晚|中午)?\d{1,2}(?:时|点|:)")

# "recently", anchored on the publication day
RECENTLY = re.compile(r"近日|(?<![\d〇零一二三四五六七八九十个作每当次])日前|近期|前不久|不久前")
# "两年多以来", "三年来": a past event some years before the publication
# Every count is bounded ({1,4}): an unbounded \d+ before a word that is not there makes a
# long run of digits cost its length squared.
YEARS_AGO = re.compile(rf"(?<![\d〇零一二三四五六七八九十两])(?P<n>\d{{1,2}}|{CN_NUM}{{1,3}})年"
                       rf"(?P<more>多|余)?(?:以来|来)")

# ── the words around a date that make it a range, a deadline, a start ──────────────────────
RANGE_LINK = re.compile(r"^(?:起|开始)?(?:至|到|—|-|~|～|－)(?:次年|翌年)?$")
RANGE_OPEN = re.compile(r"(?:自|从|由)$")
RANGE_CLOSE = re.compile(r"^(?:止|为止|结束|期间|前)")
OPEN_START = re.compile(
    r"(?P<label>(?:自|从)?(?:即日|[^,。;:\n()]{0,16}?(?:发布|印发|公布|下发|公告|通知|施行|实施)之日)"
    r"起?)(?:至|到)$")
DEADLINE_AFTER = re.compile(r"^(?:之前|以前|前|止|为止)")
DEADLINE_BEFORE = re.compile(r"(?:截至|截止(?:到|至|于)?(?:时间|日期)?(?:为|是|:)?|"
                             r"最迟|最晚|不晚于|务必于|须于|应于|请于|需于)$")
BY_BEFORE = re.compile(r"(?:到|在|于|至)$")  # "到2025年底前": only with a 前 after
UNTIL_BEFORE = re.compile(r"(?:有效期|期限|延长|延期|顺延|推迟)(?:为)?(?:至|到)$")  # 有效期至…
APPROX_AFTER = re.compile(r"^(?:前后|左右|上下)")  # 3月31日前后: about then, not by then
START_AFTER = re.compile(r"^(?:起|开始|以后|之后)")
SINCE_AFTER = re.compile(r"^(?:以来)")
EFFECT_AFTER = re.compile(r"^(?:起)?(?:施行|实施|执行|生效|启用|开始施行|正式施行|正式实施)")
CLOSING = re.compile(r"^(?:关闭|截止|停止|结束|截至)")  # after a moment: it ends something
COMPLETION = re.compile(r"关闭|截止|停止|完成|建成|实现|达到|达标|到位|完工|竣工|验收|"
                        r"基本形成|全面建成|淘汰|办结|交付")
APPLICATION = re.compile(r"申报|受理|报名|申请|办理|报送|提交|递交|购买|获取|领取|发售|出售|"
                         r"公示|征求意见|意见反馈|异议|缴费|确认|投标|认购|预约|登记|"
                         r"咨询|接收|收取|征集|推荐|遴选|提出意见|意见建议|反馈意见|提意见|认证|"
                         r"携带|前往|复审|资格审查|报到|签到|有效期|打印")

# ── recurrences ──────────────────────────────────────────────────────────────────────────
WEEKDAY_NAMES = {"一": "mon", "二": "tue", "三": "wed", "四": "thu", "五": "fri", "六": "sat",
                 "日": "sun", "天": "sun"}
WEEKLY = re.compile(
    r"每(?:逢)?(?:周|星期|个星期)(?P<days>[一二三四五六日天](?:(?:[、,和及与或]|至|到|-|—|~)"
    r"(?:周|星期)?[一二三四五六日天])*)")
WORKDAYS = re.compile(r"每个?工作日|工作日(?:每天|每日)|周一至周五每天|"
                      r"(?<![非每个])工作日(?=(?:上午|下午|早上)?\d{1,2}[:时点])")
# "周一至周五9:00-17:00(节假日除外)": office days without 每, said by their hours
OFFICE_DAYS = re.compile(r"(?<![每逢])(?:周|星期)(?P<days>[一二三四五六日天](?:至|到|-|—)"
                         r"(?:周|星期)?[一二三四五六日天])"
                         r"(?=(?:上午|下午|全天)?\d{1,2}[:时点]|全天|\(?(?:法定)?节假日)")
EVERY_N_WEEKS = re.compile(r"每(?P<n>两|二|三|四|\d)(?:周|个星期)(?![一二三四五六日天])")
DAILY = re.compile(r"(?<![工作日人户车辆])每(?:天|日)(?!益|渐|[\d.]+(?:元|万|次|人|辆|件|吨))")
MONTHLY_DAY = re.compile(rf"每月(?P<day>\d{{1,2}}|{CN_NUM}{{1,3}})[日号]"
                         rf"(?P<more>(?:、(?:\d{{1,2}}|{CN_NUM}{{1,3}})[日号]){{0,6}})"
                         rf"(?P<before>前|之前|以前)?")
MONTHLY = re.compile(r"每(?:个)?月(?![\d〇零一二三四五六七八九十])(?P<part>底|末|初)?")
QUARTERLY = re.compile(r"每(?:个)?季度(?P<part>末|初|第一个月)?")
# "本通知发布之日起30日内": relative to the publication, which is known
AFTER_PUBLICATION = re.compile(
    rf"自?(?:本通知|本公告|本方案|本办法|本文件)?(?:发布|印发|公布|下发)之日起"
    rf"(?P<n>\d{{1,3}}|{CN_NUM}{{1,3}})(?P<work>个工作日|个自然日|日|天)(?:内|以内)")
HALF_YEARLY = re.compile(r"每半年")
YEARLY = re.compile(rf"每年(?:度)?(?:{_MONTH}月(?:份)?(?:{_DAY}[日号]|{_MONTH_PART})?"
                    rf"(?:(?:至|到|—|-)(?P<m2>1[0-2]|[1-9]|十[一二]?|[一二三四五六七八九])月)?)?")
EVERY_N_YEARS = re.compile(r"每(?P<n>\d|[两二三四五])年|"
                           r"(?P<n2>\d|[两二三四五])年一(?:次|届|轮|期|评|换)")
TERM = re.compile(r"(?P<n>\d|[两二三四五])年(?:[^,。;:\n]{0,10}?)"
                  r"(?:时限|期限|任期|周期|合作期|服务期|建设期|有效期)")
HOLIDAYS_EXCEPT = re.compile(r"\(?(?:法定)?(?:节假日|节日|假日|公休日|双休日)(?:及(?:法定)?节假日)?"
                             r"(?:除外|休息|不办公|不受理|不对外)\)?")
ALL_DAY = re.compile(r"全天")
TIME_RANGE = re.compile(
    rf"(?P<a>{_TIME.replace('?P<', '?P<a_')})\s?(?:-|—|~|至|到)\s?"
    rf"(?P<b>{_TIME.replace('?P<', '?P<b_')})")

# ── what is not an event date ───────────────────────────────────────────────────────────────
# After a date, within its clause: the date says who qualifies, not when to act.
# Words that make any date before them a criterion ("1989年4月1日以后出生"), and verbs that
# do when a 的 follows soon ("…在我市行政区域注册登记的…车辆", "…期间开工建设的项目").
CRITERION_AFTER = re.compile(
    r"^[^,。;!?\n]{0,24}?(?:出生|毕业(?!证)|注册登记|登记注册|注册成立|参加工作|入学|取得[^,。;]{0,6}(?:证|学历|学位|资格))"
    r"|^[^,。;!?\n]{0,24}?(?:注册|登记|成立|设立|开业|购置|购买|购入|出厂|投产|建成|竣工|开工|"
    r"生产|参保|入职|领取|报废|注销|投入使用|发生|签订|备案|认定|批准|完成|实施|获得|"
    r"购车|购房|入住|签约|加入|参加|缴纳|缴存|办理)"
    r"[^,。;!?\n]{0,8}?的")
CRITERION_FISCAL = re.compile(r"^(?:度)?[^,。;\n]{0,6}?(?:营业收入|销售收入|主营业务收入|纳税|"
                              r"税收|产值|利润|营收|研发投入|研发费用|收入|销售额|出口额)")
CRITERION_BEFORE = re.compile(r"(?:出生于|生于|毕业于|成立于|注册于|建成于|竣工于|购买于|购置于|"
                              r"登记于|投产于|限于|须为|应为|须是|应当为|均为|"
                              r"计算截止到|计算截至|计算截止至|计算至|计算到|截止计算)$")
# "2018年出台…": a year and then what happened in it (not a year naming a plan)
EVENT_VERB = re.compile(r"^(?:度)?(?:出台|印发|发布|颁布|公布|实施|施行|启动|开展|召开|举办|建成|"
                        r"完成|开工|竣工|通过|成立|开始|修订|制定|出现|发生|开通|投入使用|上线)")
NAME_AFTER = re.compile(r"^(?:度)?(?:第[一二三四五六七八九十\d]+批|"
                        r"[^\d,。;:!?\n年月日起至前后底末内初]{2})")
TBD = re.compile(r"(?:另行|另外|再行|届时|适时)(?:通知|公布|公告|告知|安排|发布|确定)|"
                 r"(?:时间|日期)(?:待定|另定)")
RELATIVE_UNKNOWN = re.compile(
    rf"(?:自|从|在)?(?:收到|接到|接收|送达|签订|公布|公示期满|结束|完成|通过|确定|发布|下达)"
    rf"[^,。;\n\d年月]{{0,12}}?(?:之日起|之日|后|以后)[^,。;\n\d年月]{{0,6}}?"
    rf"(?<![\d年月])(?:\d{{1,4}}|{CN_NUM}{{1,4}})(?:(?:个)?(?:工作日|自然日|天|周|星期)|个月|"
    rf"日(?=内|以内))"
    rf"(?:内|以内)?")
DURATION = re.compile(
    rf"(?:公示期|公告期|公示时间|公告期限|公示期限|有效期|试用期|考察期|服务期)(?:为|是|:)?"
    rf"(?:\d{{1,3}}|{CN_NUM}{{1,3}})(?![\d〇零一二三四五六七八九十年月])"
    rf"(?:个)?(?:工作日|自然日|日(?!前)|天|周|个月|年(?![\d〇零一二三四五六七八九十月底末内]))")
DOCUMENT_NUMBER = re.compile(r"[〔\[【(](?:19|20)\d\d[〕\]】)]\s?第?\d{1,6}号"
                             r"|(?:公告|令|通告|函)(?:19|20)\d\d年第\d{1,6}号")
STANDARD = re.compile(r"(?:GB/T|GB|HJ/T|HJ|JGJ|CJJ|JJG|DB\d{0,6}/T|DB\d{0,6}|ISO|YY|QB|JT/T)"
                      r"\s?[\d.]{1,12}-(?:19|20)\d\d")
CODE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2,8}[A-Z0-9]{0,8}[-_]?(?:19|20)\d{6}[-_A-Za-z0-9]{0,16}")

# ── headlines, bylines, the notice's own date ─────────────────────────────────────────────
NEWS_LEAD = re.compile(r"^(?:本报讯|本报[^\s,]{0,6}电|新华社[^\s,]{0,8}电|"
                       r"[\u4e00-\u9fff]{2,8}(?:报|网)讯)")
BYLINE = re.compile(r"^\((?:本报)?(?:实习)?(?:记者|通讯员|特约记者)[^()]{1,30}\)$")
# the first words of a news story's body, which no headline continues into
NEWS_OPENING = re.compile(r"(?:本报讯|本报[^\s,]{0,6}电|(?:日前|近日|近期),记者|记者从)")
# a byline at the end of a line ("…。(记者 王琼)"), as the layout prints it
BYLINE_END = re.compile(r"\((?:本报)?(?:实习)?(?:记者|通讯员)[^()]{1,30}\)$")
# a numbered item or heading: 一、 (一) 1. 1、 2.1 第三条 【
LIST_ITEM = re.compile(r"(?:[一二三四五六七八九十]+、|\(?[一二三四五六七八九十]+\)"
                       r"|\d+(?:\.\d+)*[.、)]|\d+(?:\.\d+)+|第[一二三四五六七八九十\d]+[条章节]|【)")
LEAD_BYLINE = re.compile(r"^(?:本报讯)?\((?:实习)?(?:记者|通讯员)[^()]{1,30}\)")
# a label of the notice's own date, at the start of a header line or after a separator
# ("来源：市局　发布时间：2025-02-20"); never 报名日期, 截止日期, "30日期间"
PUBLISHED_LABEL = re.compile(r"(?:^|[\s|/])(?:发布(?:时间|日期)|发文日期|成文日期|印发日期|"
                             r"更新时间|发布于|日期)\s?:?\s?(?=[\d〇零一二三四五六七八九])")

# ── tags suggested from the text ────────────────────────────────────────────────────────────
TAG_WORDS = {
    "subsidy": ("补贴", "补助", "奖补", "资金", "专项资金"),
    "application": ("申报", "申请", "报名", "受理"),
    "tender": ("招标", "投标", "采购", "开标"),
    "hiring": ("招聘", "聘用", "笔试", "面试"),
    "office-hours": ("办理", "咨询", "办公时间", "窗口"),
    "zero-carbon": ("零碳", "碳排放", "双碳", "碳达峰"),
    "diesel": ("柴油货车", "柴油车"),
    "preschool": ("学前", "幼儿园"),
    "education": ("学校", "教育"),
    "environment": ("生态环境", "污染", "空气质量"),
    "marriage-registration": ("婚姻登记",),
    "review": ("评审", "评估", "考核", "验收"),
    "phase": ("阶段",),
    "report": ("报送", "上报", "报告"),
}
