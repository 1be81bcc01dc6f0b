"""Name lexicons: Han and Mongolian personal names, compound, community, shop and school names.

Everything here is invented from common name elements; no real person is described. Han given
names follow the fashion of the birth decade (秀兰 for 1940s women, 子涵 for 2010s girls);
Mongolian names carry no surname and are single elements (巴特尔) or two joined (孟和巴雅尔).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# --- Han surnames (northern China weights, roughly per mille) ---------------------------------
HAN_SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 95),
    ("李", 80),
    ("张", 78),
    ("刘", 62),
    ("赵", 38),
    ("杨", 35),
    ("高", 24),
    ("郭", 22),
    ("陈", 22),
    ("孙", 18),
    ("马", 16),
    ("周", 13),
    ("吴", 12),
    ("贾", 12),
    ("郝", 12),
    ("武", 11),
    ("徐", 11),
    ("朱", 10),
    ("胡", 10),
    ("白", 10),
    ("田", 10),
    ("乔", 9),
    ("韩", 9),
    ("闫", 9),
    ("冯", 8),
    ("于", 8),
    ("董", 8),
    ("任", 8),
    ("曹", 7),
    ("梁", 7),
    ("宋", 7),
    ("许", 7),
    ("段", 6),
    ("侯", 6),
    ("康", 6),
    ("石", 6),
    ("苗", 6),
    ("薛", 6),
    ("程", 6),
    ("范", 6),
    ("魏", 6),
    ("邢", 5),
    ("杜", 5),
    ("崔", 5),
    ("姚", 5),
    ("史", 5),
    ("牛", 5),
    ("常", 5),
    ("尹", 4),
    ("袁", 4),
    ("黄", 4),
    ("何", 4),
    ("付", 4),
    ("申", 4),
    ("温", 4),
    ("聂", 4),
    ("霍", 4),
    ("秦", 4),
    ("云", 4),
    ("荣", 3),
    ("雷", 3),
    ("苏", 3),
    ("丁", 3),
    ("姜", 3),
    ("谢", 3),
    ("冀", 3),
    ("安", 3),
    ("卢", 3),
    ("殷", 2),
    ("樊", 2),
    ("邓", 2),
    ("潘", 2),
    ("钱", 2),
    ("尚", 2),
    ("毛", 2),
    ("庞", 2),
    ("岳", 2),
    ("邱", 2),
    ("鲁", 2),
    ("宁", 2),
)
#: surnames common among Hui, Manchu, Daur and Mongols with Chinese-style names
HUI_SURNAMES: tuple[tuple[str, float], ...] = (
    ("马", 40),
    ("白", 10),
    ("杨", 8),
    ("丁", 6),
    ("海", 5),
    ("沙", 4),
    ("穆", 4),
    ("李", 6),
    ("金", 4),
    ("哈", 3),
    ("米", 3),
    ("纳", 3),
    ("王", 4),
)
MANCHU_SURNAMES: tuple[tuple[str, float], ...] = (
    ("关", 15),
    ("佟", 10),
    ("那", 8),
    ("金", 8),
    ("赵", 8),
    ("富", 5),
    ("傅", 6),
    ("吴", 5),
    ("郎", 4),
    ("何", 4),
    ("肖", 4),
    ("罗", 3),
    ("鄂", 2),
    ("汪", 3),
)
DAUR_SURNAMES: tuple[tuple[str, float], ...] = (
    ("敖", 10),
    ("郭", 8),
    ("何", 6),
    ("鄂", 6),
    ("苏", 4),
    ("孟", 4),
)
MONGOL_HAN_STYLE_SURNAMES: tuple[tuple[str, float], ...] = (
    ("包", 25),
    ("白", 15),
    ("宝", 8),
    ("鲍", 6),
    ("韩", 6),
    ("吴", 5),
    ("陈", 4),
    ("王", 5),
    ("李", 4),
    ("张", 4),
    ("刘", 3),
    ("云", 4),
    ("奇", 3),
    ("特", 2),
    ("额", 2),
)

#: Han given names by birth era (start year) and sex; the year an era covers runs to the next key
HAN_GIVEN: dict[int, dict[str, tuple[str, ...]]] = {
    1900: {
        "男": (
            "建国",
            "国庆",
            "建华",
            "志强",
            "国强",
            "德明",
            "振华",
            "建民",
            "福林",
            "永福",
            "占山",
            "玉林",
            "宝山",
            "凤山",
            "文斌",
            "树林",
            "春生",
            "金山",
            "明",
            "华",
            "林",
            "成",
            "忠",
            "海",
            "平",
            "福",
            "贵",
            "有才",
            "长青",
            "万里",
            "德胜",
            "占元",
            "保国",
            "文秀",
            "玉成",
        ),
        "女": (
            "秀兰",
            "桂英",
            "淑珍",
            "玉兰",
            "凤英",
            "秀英",
            "玉珍",
            "桂兰",
            "淑兰",
            "翠花",
            "素芬",
            "淑英",
            "秀珍",
            "玉梅",
            "凤兰",
            "桂芳",
            "兰英",
            "金花",
            "秀芳",
            "玉英",
            "桂珍",
            "凤琴",
            "淑芬",
            "秀云",
            "玉芬",
            "素珍",
            "月英",
            "桂香",
            "秀琴",
            "凤芝",
        ),
    },
    1960: {
        "男": (
            "建军",
            "卫东",
            "红军",
            "卫国",
            "海军",
            "志刚",
            "建平",
            "国华",
            "永强",
            "立新",
            "晓东",
            "建新",
            "俊",
            "伟",
            "勇",
            "军",
            "斌",
            "峰",
            "涛",
            "强",
            "刚",
            "辉",
            "海涛",
            "建伟",
            "振宇",
            "文军",
            "永军",
            "志平",
            "利民",
            "宏伟",
            "向东",
            "继红",
            "建忠",
            "德福",
            "占军",
        ),
        "女": (
            "红梅",
            "丽华",
            "秀梅",
            "艳红",
            "丽萍",
            "春梅",
            "海燕",
            "红霞",
            "晓红",
            "丽君",
            "美玲",
            "彩霞",
            "丽",
            "红",
            "霞",
            "燕",
            "萍",
            "敏",
            "静",
            "英",
            "梅",
            "芳",
            "华",
            "建英",
            "玉霞",
            "翠萍",
            "美荣",
            "桂萍",
            "丽琴",
            "晓梅",
        ),
    },
    1980: {
        "男": (
            "磊",
            "鑫",
            "超",
            "鹏",
            "浩",
            "杰",
            "宇",
            "帅",
            "亮",
            "龙",
            "伟",
            "强",
            "波",
            "晨",
            "凯",
            "剑",
            "旭",
            "东",
            "飞",
            "俊杰",
            "鹏飞",
            "志伟",
            "文博",
            "晓峰",
            "海龙",
            "少华",
            "建伟",
            "晓明",
            "伟东",
            "利军",
            "旭东",
            "永亮",
            "宏亮",
            "博",
            "健",
        ),
        "女": (
            "丽娟",
            "静",
            "婷",
            "娜",
            "丹",
            "艳",
            "颖",
            "璐",
            "倩",
            "晶",
            "佳",
            "雪",
            "莉",
            "丽丽",
            "婷婷",
            "晓燕",
            "春燕",
            "慧",
            "琳",
            "蕾",
            "楠",
            "思思",
            "晓丽",
            "雅琴",
            "晓静",
            "文静",
            "佳慧",
            "美娜",
            "晓娟",
            "海霞",
        ),
    },
    2000: {
        "男": (
            "浩然",
            "子轩",
            "宇轩",
            "梓轩",
            "浩宇",
            "俊熙",
            "一鸣",
            "子墨",
            "宇泽",
            "博文",
            "皓轩",
            "子豪",
            "奕辰",
            "沐宸",
            "锦程",
            "宇",
            "睿",
            "航",
            "铭",
            "哲",
            "轩",
            "晨阳",
            "天佑",
            "思远",
            "嘉豪",
            "子健",
            "明轩",
            "俊宇",
            "泽宇",
            "浩轩",
            "梓睿",
            "宸",
            "一航",
            "星宇",
            "瑞",
        ),
        "女": (
            "欣怡",
            "子涵",
            "梓涵",
            "雨桐",
            "一诺",
            "诗涵",
            "思琪",
            "佳怡",
            "梦瑶",
            "语桐",
            "可馨",
            "若汐",
            "紫萱",
            "雨欣",
            "梓萱",
            "依诺",
            "欣妍",
            "嘉怡",
            "语嫣",
            "婉清",
            "悦",
            "涵",
            "彤",
            "萱",
            "琪",
            "雨涵",
            "梓晴",
            "沐瑶",
            "安琪",
            "诗琪",
        ),
    },
}

# --- Mongolian names --------------------------------------------------------------------------
MONGOL_MALE: tuple[str, ...] = (
    "巴特尔",
    "孟和",
    "巴雅尔",
    "额尔敦",
    "宝音",
    "那顺",
    "朝鲁",
    "阿拉坦",
    "敖其尔",
    "毕力格",
    "布和",
    "达来",
    "德力格尔",
    "呼和",
    "巴图",
    "苏和",
    "朝格图",
    "乌力吉",
    "宝力道",
    "那日苏",
    "额尔德木图",
    "特木尔",
    "吉日嘎拉",
    "图门",
    "满都拉",
    "阿古拉",
    "哈斯",
    "巴根",
    "旭日",
    "阿木古楞",
    "道尔吉",
    "毕力格图",
    "宝力高",
    "伊德尔",
    "朝克图",
    "巴音",
    "乌恩",
    "那木吉拉",
    "格日勒图",
    "图布新",
    "扎那",
    "胡日查",
    "斯琴",
    "额日和木",
    "达赖",
    "乌日图",
    "白音仓",
)
MONGOL_FEMALE: tuple[str, ...] = (
    "其其格",
    "乌兰",
    "图雅",
    "苏日娜",
    "萨仁",
    "高娃",
    "塔娜",
    "娜仁",
    "其木格",
    "乌日娜",
    "吉雅",
    "萨日娜",
    "斯琴",
    "格日勒",
    "托娅",
    "琪琪格",
    "敖登",
    "乌云",
    "娜日苏",
    "萨如拉",
    "包日玛",
    "斯日古楞",
    "乌日罕",
    "诺敏",
    "阿茹娜",
    "乌兰图雅",
    "娜仁花",
    "孟根花",
    "萨日朗",
    "陶格斯",
    "达古拉",
    "南斯勒玛",
    "阿如汗",
    "哈斯",
    "额尔敦",
    "其其格玛",
    "塔拉",
    "乌仁",
    "宝鲁尔",
)
#: (first part, second part) of two-element names
MONGOL_MALE_PREFIX: tuple[str, ...] = (
    "孟和",
    "额尔敦",
    "宝音",
    "阿拉坦",
    "那顺",
    "斯琴",
    "哈斯",
    "吉日嘎拉",
    "朝格",
    "乌力吉",
)
MONGOL_MALE_SUFFIX: tuple[str, ...] = (
    "巴雅尔",
    "巴特尔",
    "毕力格",
    "图",
    "达来",
    "朝鲁",
    "苏和",
    "仓",
    "乌力吉",
)
MONGOL_FEMALE_PREFIX: tuple[str, ...] = (
    "乌兰",
    "斯琴",
    "萨仁",
    "哈斯",
    "阿拉坦",
    "娜仁",
    "其木格",
    "苏日",
)
MONGOL_FEMALE_SUFFIX: tuple[str, ...] = ("图雅", "高娃", "其其格", "花", "托娅", "塔娜")

_MONGOL_ELEMENTS: frozenset[str] = frozenset(
    MONGOL_MALE + MONGOL_FEMALE + MONGOL_MALE_PREFIX + MONGOL_MALE_SUFFIX + MONGOL_FEMALE_PREFIX + MONGOL_FEMALE_SUFFIX
)
_MONGOL_HEADS: frozenset[str] = frozenset(e for e in _MONGOL_ELEMENTS if len(e) >= 2)


_ELEMENT_LENGTHS: tuple[int, ...] = tuple(sorted({len(e) for e in _MONGOL_ELEMENTS}, reverse=True))


def _splits(rest: str, pool: frozenset[str]) -> bool:
    if not rest:
        return True
    return any(len(rest) >= k and rest[:k] in pool and _splits(rest[k:], _MONGOL_ELEMENTS) for k in _ELEMENT_LENGTHS)


@lru_cache(maxsize=1 << 17)
def is_mongolian_style(name: str) -> bool:
    """Whether ``name`` is a Mongolian-style name (no surname, made of Mongolian name elements)."""
    return len(name) >= 2 and _splits(name, _MONGOL_HEADS)


def _weights(pairs: tuple[tuple[str, float], ...]) -> tuple[np.ndarray, np.ndarray]:
    names = np.array([p[0] for p in pairs], dtype=object)
    w = np.array([p[1] for p in pairs], dtype=float)
    return names, w / w.sum()


SURNAME_POOLS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "汉族": _weights(HAN_SURNAMES),
    "回族": _weights(HUI_SURNAMES),
    "满族": _weights(MANCHU_SURNAMES),
    "达斡尔族": _weights(DAUR_SURNAMES),
    "蒙古族": _weights(MONGOL_HAN_STYLE_SURNAMES),
}


def given_era(birth_year: np.ndarray) -> np.ndarray:
    """Index of the given-name era (a key of :data:`HAN_GIVEN`) for each birth year."""
    return np.searchsorted(np.array([1960, 1980, 2000]), birth_year, side="right")


def han_given(rng: np.random.Generator, birth_year: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Han given names drawn for each person from their era and sex (vectorised)."""
    era = given_era(np.asarray(birth_year))
    out = np.empty(len(era), dtype=object)
    for e, key in enumerate(sorted(HAN_GIVEN)):
        for sex, flag in (("男", True), ("女", False)):
            sel = np.flatnonzero((era == e) & (male == flag))
            if sel.size:
                pool = np.array(HAN_GIVEN[key][sex], dtype=object)
                out[sel] = pool[rng.integers(0, len(pool), sel.size)]
    return out


def mongolian_names(rng: np.random.Generator, male: np.ndarray) -> np.ndarray:
    """Mongolian names (one element, or two joined for about a third) for each person."""
    male = np.asarray(male, dtype=bool)
    n = male.size
    out = np.empty(n, dtype=object)
    two = rng.random(n) < 0.33
    for flag, single, pre, suf in (
        (True, MONGOL_MALE, MONGOL_MALE_PREFIX, MONGOL_MALE_SUFFIX),
        (False, MONGOL_FEMALE, MONGOL_FEMALE_PREFIX, MONGOL_FEMALE_SUFFIX),
    ):
        s = np.flatnonzero((male == flag) & ~two)
        out[s] = np.array(single, dtype=object)[rng.integers(0, len(single), s.size)]
        t = np.flatnonzero((male == flag) & two)
        a = np.array(pre, dtype=object)[rng.integers(0, len(pre), t.size)]
        b = np.array(suf, dtype=object)[rng.integers(0, len(suf), t.size)]
        out[t] = a + b
    return out


def surnames(rng: np.random.Generator, ethnicity: np.ndarray) -> np.ndarray:
    """A surname for each person drawn from the pool of their ethnic group."""
    out = np.empty(len(ethnicity), dtype=object)
    for eth, (pool, p) in SURNAME_POOLS.items():
        sel = np.flatnonzero(ethnicity == eth)
        if sel.size:
            out[sel] = rng.choice(pool, size=sel.size, p=p)
    rest = np.flatnonzero(out == None)  # noqa: E711 (object array comparison)
    if rest.size:
        pool, p = SURNAME_POOLS["汉族"]
        out[rest] = rng.choice(pool, size=rest.size, p=p)
    return out


# --- places and compounds ---------------------------------------------------------------------
PLACE_WORDS: tuple[str, ...] = (
    "锡林",
    "兴安",
    "哲里木",
    "呼伦",
    "海拉尔",
    "阿拉善",
    "乌兰",
    "青城",
    "昭君",
    "敕勒川",
    "大召",
    "北垣",
    "东风",
    "团结",
    "新华",
    "光明",
    "胜利",
    "红旗",
    "建设",
    "前进",
    "民族",
    "育才",
    "曙光",
    "和平",
    "满都海",
    "成吉思汗",
    "二道河",
    "东瓦窑",
    "公主府",
    "扎达盖",
    "乌素图",
    "巴彦",
    "塔布",
    "金桥",
    "如意",
    "石羊桥",
    "滨河",
    "西菜园",
    "通道",
    "牛街",
    "长乐",
    "锦绣",
    "察素",
    "呼伦贝尔",
    "鄂尔多斯",
    "阿尔山",
    "赛罕",
    "大学",
    "南茶坊",
    "小召",
    "兴隆",
    "攸攸板",
    "讨号板",
    "东达",
)
VIRTUE_WORDS: tuple[str, ...] = (
    "幸福",
    "祥和",
    "和谐",
    "康乐",
    "安居",
    "富康",
    "友谊",
    "春光",
    "阳光",
    "向阳",
    "欣荣",
    "文化",
    "长青",
    "丰泽",
    "怡和",
    "民主",
    "繁荣",
    "福泽",
    "瑞祥",
    "嘉和",
    "康宁",
    "永安",
    "恒昌",
    "丽都",
)
WORK_UNITS: tuple[str, ...] = (
    "电力",
    "铁路",
    "邮电",
    "粮食局",
    "自来水公司",
    "烟草公司",
    "电业局",
    "日报社",
    "师范学院",
    "水利厅",
    "供销社",
    "物资局",
    "建工局",
    "毛纺厂",
    "糖厂",
    "气象局",
    "地质局",
    "电信",
    "农机厂",
    "林业厅",
    "商业厅",
    "交通厅",
    "内燃机厂",
    "军分区",
    "畜牧厅",
    "医学院",
    "第一医院",
    "卷烟厂",
    "化工厂",
    "客运公司",
    "煤炭局",
    "广播电视局",
    "税务局",
    "百货大楼",
    "乳品厂",
    "机床厂",
)
OLD_SUFFIXES: tuple[tuple[str, float], ...] = (("小区", 50), ("新村", 8), ("里", 5))
WORK_SUFFIXES: tuple[tuple[str, float], ...] = (
    ("家属院", 60),
    ("宿舍", 15),
    ("家属楼", 15),
    ("小区", 10),
)
NEW_SUFFIXES: tuple[tuple[str, float], ...] = (
    ("花园", 20),
    ("家园", 15),
    ("嘉园", 8),
    ("佳苑", 8),
    ("雅苑", 8),
    ("华府", 6),
    ("名都", 5),
    ("国际", 5),
    ("公馆", 4),
    ("尚城", 4),
    ("御景", 3),
    ("丽景", 4),
    ("新城", 5),
    ("世纪城", 3),
)
PHASES: tuple[str, ...] = ("二期", "三期", "东区", "西区", "南区", "北区", "A区", "B区")

SHOP_NAMES: tuple[str, ...] = (
    "便民超市",
    "综合市场",
    "商业楼",
    "惠民超市",
    "五金建材店",
    "益民药房",
    "百货商店",
    "商厦",
    "农贸市场",
    "饭店",
    "家电商场",
    "银行营业厅",
    "邮政所",
    "商务楼",
    "便利店",
    "菜市场",
)

#: offices (办公) on open parcels; a place word is put in front of the ones starting with "·"
ORGANISATIONS: tuple[str, ...] = (
    "·税务所",
    "·供电营业所",
    "·司法所",
    "·文化馆",
    "·老干部活动中心",
    "·市政工程公司",
    "·邮政支局",
    "·社区卫生服务中心",
    "·建设银行",
    "·工商银行",
    "·农业银行",
    "·人民法庭",
    "·消防站",
    "·规划设计院",
    "·科技大厦",
    "·国际大厦",
    "·广播电视中心",
    "·水务公司",
    "·燃气公司",
    "·热力公司",
    "·交警中队",
)


def organisation_name(rng: np.random.Generator, place: str) -> str:
    """An office user such as 新华税务所 or 锡林科技大厦."""
    name = str(rng.choice(ORGANISATIONS))
    return place + name[1:] if name.startswith("·") else name


def _pick(rng: np.random.Generator, pairs: tuple[tuple[str, float], ...]) -> str:
    names, p = _weights(pairs)
    return str(names[rng.choice(len(names), p=p)])


def compound_name(rng: np.random.Generator, style: str, used: set[str], local: str | None = None) -> str:
    """A compound name matching its age (``walkup`` → 小区/家属院, newer styles → 花园/华府…).

    ``local`` is a place word tied to the area (a road or community name) used now and then; names
    in ``used`` are avoided (a phase suffix 二期, 东区… is added when the pool runs dry).
    """
    for attempt in range(40):
        r = rng.random()
        if style == "walkup":
            if r < 0.35:
                name = rng.choice(WORK_UNITS) + _pick(rng, WORK_SUFFIXES)
            elif r < 0.6:
                name = rng.choice(VIRTUE_WORDS) + _pick(rng, OLD_SUFFIXES)
            elif local and r < 0.72:
                name = local + _pick(rng, OLD_SUFFIXES)
            else:
                name = rng.choice(PLACE_WORDS) + _pick(rng, OLD_SUFFIXES)
        else:
            if local and r < 0.12:
                name = local + _pick(rng, NEW_SUFFIXES)
            elif r < 0.5:
                name = rng.choice(PLACE_WORDS) + _pick(rng, NEW_SUFFIXES)
            else:
                name = rng.choice(VIRTUE_WORDS) + _pick(rng, NEW_SUFFIXES)
        if attempt > 25:
            name += PHASES[attempt % len(PHASES)]
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("could not find an unused compound name")  # pragma: no cover


def community_name(rng: np.random.Generator, used: set[str]) -> str:
    """A synthetic community name such as 祥和社区 or 锡林东社区."""
    for attempt in range(200):
        base = str(rng.choice(PLACE_WORDS + VIRTUE_WORDS))
        if attempt > 30 or rng.random() < 0.3:
            base += str(rng.choice(("东", "西", "南", "北", "中", "新", "前", "后", "一", "二", "三")))
        name = base + "社区"
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("could not find an unused community name")  # pragma: no cover


def short_community_name(official: str) -> str:
    """``新华社区居委会`` → ``新华社区`` (the name used in addresses)."""
    for tail in ("居民委员会", "居委会"):
        if official.endswith(tail):
            official = official[: -len(tail)]
    if not official.endswith(("社区", "村", "嘎查")):
        official += "社区"
    return official
