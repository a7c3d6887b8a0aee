"""Normalizing a notice keeps a map from every normalized character to the original, so
evidence points at the text as it was written: spaces inside dates, full-width digits and
line breaks inside words are folded away, and mapped back."""

from __future__ import annotations

import random

import pytest

from timeline.extract.normalize import normalize


def test_spaces_full_width_and_line_breaks_inside_a_date() -> None:
    original = "受理 2011 年 8\n月1日至２０１２年３月３１日在我市"
    norm = normalize(original, hard_lines=False)
    assert norm.text == "受理2011年8月1日至2012年3月31日在我市"
    start = norm.text.index("2011")
    end = norm.text.index("在我市")
    a, b = norm.original_span(start, end)
    assert original[a:b] == "2011 年 8\n月1日至２０１２年３月３１日"


def test_a_pdf_column_joins_lines_but_keeps_paragraphs() -> None:
    column = ("按计划，南川工业园区将分三阶\n段打造零碳产业园区：到2025年底前，\n"
              "建成绿电产业园区。基本完成区域内\n碳监测、核算系统。\n\n"
              "到2028 年底前，建成近零碳产业\n园区。通过源网荷储一体化项目建设，\n"
              "形成绿色交通体系。\n")
    text = normalize(column, hard_lines=False).text
    assert text.split("\n") == [
        "按计划,南川工业园区将分三阶段打造零碳产业园区:到2025年底前,建成绿电产业园区。"
        "基本完成区域内碳监测、核算系统。",
        "到2028年底前,建成近零碳产业园区。通过源网荷储一体化项目建设,形成绿色交通体系。"]


def test_a_number_broken_across_lines_is_one_number() -> None:
    assert "2024年4月9日" in normalize("截止时间为2\n024年4月9日9时30分，地点为交易中心3楼。\n"
                                      "其余事项见招标文件。投标人须提前到场办理。\n",
                                      hard_lines=False).text


def test_ascii_words_keep_their_space() -> None:
    assert "GB 17691-2018" in normalize("达到 GB 17691-2018 标准", hard_lines=True).text


def test_spaced_out_names_and_bylines() -> None:
    text = normalize("（记 者 宁 亚 琴）\n", hard_lines=True).text
    assert text == "(记者宁亚琴)"


def test_one_paragraph_a_line_is_kept_as_it_is() -> None:
    lines = ("关于申报的通知\n\n各有关单位：\n\n"
             "申报时间为2025年3月1日至3月31日，请按时报送材料，逾期不予受理。\n")
    assert normalize(lines).text.split("\n") == [
        "关于申报的通知", "各有关单位:",
        "申报时间为2025年3月1日至3月31日,请按时报送材料,逾期不予受理。"]


_ALPHABET = list("年月日０１２3 \n\u3000，。ab\t〇二（）")


@pytest.mark.parametrize("seed", range(300))
def test_the_map_always_points_at_the_original_character(seed: int) -> None:
    chance = random.Random(seed)
    original = "".join(chance.choice(_ALPHABET) for _ in range(chance.randrange(80)))
    norm = normalize(original)
    assert len(norm.origin) == len(norm.text) + 1
    for index, char in enumerate(norm.text):
        source = original[norm.origin[index]]
        if char in " \n":
            assert source.isspace()
        else:
            assert source == char or ord(source) - 0xFEE0 == ord(char) or source == "\u3000"
    assert list(norm.origin) == sorted(norm.origin)
