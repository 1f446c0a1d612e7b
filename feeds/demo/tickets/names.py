"""Fake personal data: Chinese names and mobile numbers.

Every name and number here is made up from a seeded generator; they exist so the console
has personal data to mask. Mobile numbers use the 1xx pattern of mainland operators.
"""

from __future__ import annotations

import numpy as np

# Common surnames, roughly by frequency (weights are rough population shares in %).
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 7.1), ("李", 7.0), ("张", 6.7), ("刘", 5.4), ("陈", 4.5), ("杨", 3.1),
    ("赵", 2.3), ("黄", 2.2), ("周", 1.7), ("吴", 1.6), ("徐", 1.3), ("孙", 1.3),
    ("胡", 1.3), ("朱", 1.2), ("高", 1.2), ("林", 1.2), ("何", 1.2), ("郭", 1.2),
    ("马", 1.1), ("罗", 0.9), ("梁", 0.9), ("宋", 0.8), ("郑", 0.8), ("谢", 0.7),
    ("韩", 0.7), ("唐", 0.6), ("冯", 0.6), ("于", 0.6), ("董", 0.6), ("萧", 0.5),
    ("程", 0.5), ("曹", 0.5), ("袁", 0.5), ("邓", 0.5), ("许", 0.5), ("傅", 0.5),
    ("白", 0.4), ("乌", 0.2), ("包", 0.3), ("云", 0.2), ("其", 0.1), ("敖", 0.1),
)
GIVEN_CHARS = ("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉梅建国建华"
               "志强海燕红梅文博子涵浩然雨轩宇航欣怡梓萱晨阳俊杰巴特尔其木格乌兰"
               "斯琴娜仁金花宝山瑞峰国庆丽娟淑珍玉兰春梅振华德胜")
MOBILE_PREFIXES = ("130", "131", "132", "135", "136", "137", "138", "139", "150",
                   "151", "152", "155", "156", "157", "158", "159", "177", "180",
                   "182", "183", "185", "186", "187", "188", "189", "191", "199")


def fake_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """n fake full names (surname + one or two given-name characters)."""
    s = np.array([x[0] for x in SURNAMES])
    w = np.array([x[1] for x in SURNAMES])
    sur = rng.choice(s, size=n, p=w / w.sum())
    chars = np.array(list(GIVEN_CHARS))
    g1 = rng.choice(chars, size=n)
    g2 = np.where(rng.random(n) < 0.7, rng.choice(chars, size=n), "")
    return np.char.add(np.char.add(sur, g1), g2).astype(object)


def fake_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """n fake 11-digit mainland mobile numbers."""
    pre = rng.choice(np.array(MOBILE_PREFIXES), size=n)
    rest = np.char.zfill(rng.integers(0, 10**8, size=n).astype(str), 8)
    return np.char.add(pre, rest).astype(object)
