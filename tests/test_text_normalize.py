"""Fixed expected outputs of the text front end (normalisers, pinyin, segmentation, mixed zh/en)."""

import pytest

from conftest import GOLDEN_DIR
from luxtts.text import EmiliaTokenizer, normalize_chinese, normalize_english
from luxtts.text.clean import map_punctuation
from luxtts.text.phonemize import split_pinyin
from luxtts.text.segment import Segment, segment_text

TOKENS = GOLDEN_DIR / "tokenizer" / "tokens.txt"


@pytest.fixture(scope="module")
def emilia() -> EmiliaTokenizer:
    return EmiliaTokenizer(TOKENS)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mr. Smith met Dr. Jones on St. James St.", "mister. Smith met doctor. Jones on saint. James saint."),
        (
            "It costs $12.50, or $1.01, or $3.",
            "It costs   twelve  dollars,  fifty  cents , or   one  dollar,  one  cent , or   three  dollars .",
        ),
        ("I owe you £20.", "I owe you  twenty  pounds."),
        ("Add 1/2 cup and 3/4 cup.", "Add  one half  cup and  three quarters  cup."),
        ("Pi is 3.14 and 50% is half.", "Pi is  three  point  fourteen  and  fifty  percent  is half."),
        ("The 1st, 2nd and 21st.", "The  first ,  second  and  twenty-first ."),
        (
            "In 1999, 2000, 2005, 1900 and 1066.",
            "In  nineteen ninety-nine ,  two thousand ,  two thousand five ,  nineteen hundred  and  ten sixty-six .",
        ),
        (
            "We sold 1,234,567 units.",
            "We sold  one million, two hundred thirty-four thousand, five hundred sixty-seven  units.",
        ),
        ("Capt. Hook etc.", "captain. Hook et cetera."),
        ("0 and 7 and 3000.", " zero  and  seven  and  three thousand ."),
        # Times have no rule: the colon stays and espeak-ng pauses on it, as in the reference.
        ("at 3:45 pm", "at  three : forty-five  pm"),
    ],
)
def test_normalize_english(text, expected):
    assert normalize_english(text) == expected


def test_normalize_english_reads_very_long_numbers_digit_by_digit():
    assert normalize_english("x " + "12" * 30) == "x  " + " ".join(["one two"] * 30) + " "
    assert normalize_english("$" + "9" * 50).split().count("nine") == 50


@pytest.mark.parametrize(
    "text, expected",
    [
        ("今天是2024年3月15日", "今天是二零二四年三月十五日"),
        ("气温是25度", "气温是二十五度"),
        ("增长了20%", "增长了百分之二十"),
        ("x" + "1" * 20, "x" + "一" * 20),
    ],
)
def test_normalize_chinese(text, expected):
    assert normalize_chinese(text) == expected


def test_map_punctuation():
    assert map_punctuation("你好，世界！是吗？对；说：“好”、‘行’。。。⋯") == "你好,世界!是吗?对;说:\"好\",'行'……"


@pytest.mark.parametrize(
    "syllable, expected",
    [
        ("zhang1", ["zh0", "ang1"]),
        ("an4", ["an4"]),
        ("le5", ["l0", "e5"]),
        ("lv4", ["l0", "v4"]),
        ("abc", None),
        ("1", None),
    ],
)
def test_split_pinyin(syllable, expected):
    assert split_pinyin(syllable) == expected


def test_segments_mixed_text():
    assert segment_text("[S1]我们用 Python 写<xie3>!") == [
        Segment("[S1]", "tag"),
        Segment("我们用 ", "zh"),
        Segment("Python ", "en"),
        Segment("写", "zh"),
        Segment("<xie3>", "pinyin"),
        Segment("!", "zh"),
    ]
    assert segment_text("123 ...") == [Segment("123 ...", "other")]


def test_chinese_sentence(emilia):
    tokens = ["w0", "o3", "ai4", "b0", "ei3", "j0", "ing1", "t0", "ian1", "an1", "m0", "en2", "."]
    assert emilia.text_to_tokens("我爱北京天安门。") == tokens


def test_chinese_tone_sandhi(emilia):
    # 不 before a fourth tone becomes bu2.
    assert emilia.text_to_tokens("我不是老师") == ["w0", "o3", "b0", "u2", "sh0", "i4", "l0", "ao3", "sh0", "i1"]


def test_mixed_chinese_english(emilia):
    expected = ["w0", "o3", "x0", "i3", "h0", "uan1", "t0", "ing1", " ", "d", "ʒ", "ˈ", "æ", "z", "y0", "in1",
                "y0", "ue4", ",", "ɪ", "s", "p", "ˈ", "ɛ", "ʃ", "ə", "l", "i", "z0", "ai4", "w0", "an3", "sh0",
                "ang4", "."]  # fmt: skip
    assert emilia.text_to_tokens("我喜欢听 jazz 音乐，especially 在晚上。") == expected


def test_chinese_numbers_are_read(emilia):
    assert emilia.text_to_tokens("第3章有100页。") == [
        "d0", "i4", "s0", "an1", "zh0", "ang1", "y0", "ou3", "y0", "i4", "b0", "ai3", "y0", "e4", ".",
    ]  # fmt: skip


def test_digits_alone_are_read_in_english(emilia):
    # The reference skips a text without any letter; "2024" alone would give nothing.
    assert emilia.text_to_tokens("2024") == emilia.text_to_tokens("twenty twenty-four")
