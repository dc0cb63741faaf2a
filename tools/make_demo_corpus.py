"""Write the embedded DEMO corpus: small synthetic datasets written for lensforge (run by hand, output committed).

Usage: python tools/make_demo_corpus.py [--out DIR]

DIR defaults to lensforge/demo. The script writes
  DIR/data/<slug>/<raw files>          the raw files, in the formats the registry entries declare
  DIR/data/README.md                   what each dataset is and which dirt was planted where
  DIR/registry/<lang>/<slug>.yaml      one registry entry per dataset (collection: demo)

Every text is composed here from hand-written phrase lists (a bag of cue phrases per class put
into varied sentence templates), so labels are easy to learn from the words. All people, places,
companies and events are fictional. Nothing is copied from any real dataset.

A little dirt is planted on purpose, in counts recorded in the README and in each entry's notes,
so the curation stage has something to find: exact duplicates, duplicates with conflicting labels,
label spelling variants, texts with fewer than three letters, train/test overlap, HTML entities,
extra whitespace and bare quote characters in a file read without quoting.

Stdlib only and deterministic: random.Random seeded per dataset, no network; running it twice
writes identical bytes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "lensforge" / "demo"
SEED = 20250611
LICENSE = "CC0-1.0 (demo data written for lensforge)"
DEMO_NOTE = "Synthetic demo data written for lensforge; all people, places and events are fictional."

PUNCT = ".,!?;:\"'()[]{}«»،؛؟।…-–—#@*/\\|"


def tokens(text: str) -> list[str]:
    """Lower-cased words, split on whitespace with punctuation stripped (works for Arabic and Devanagari)."""
    out = []
    for word in text.lower().split():
        word = word.strip(PUNCT)
        if word:
            out.append(word)
    return out


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class Pool:
    """The texts drawn so far for one dataset: rejects exact repeats and near-duplicates."""

    def __init__(self, rng: random.Random, limit: float = 0.7) -> None:
        self.rng = rng
        self.limit = limit
        self.seen: set[str] = set()
        self.word_sets: list[set[str]] = []

    def accept(self, key: str) -> bool:
        if key in self.seen:
            return False
        words = set(tokens(key))
        if any(jaccard(words, other) >= self.limit for other in self.word_sets):
            return False
        self.seen.add(key)
        self.word_sets.append(words)
        return True

    def draw(self, make: Callable[[random.Random], tuple[str, ...]], tries: int = 20000) -> tuple[str, ...]:
        for _ in range(tries):
            parts = make(self.rng)
            if self.accept(" ".join(parts)):
                return parts
        raise RuntimeError("could not draw a new distinct text; add phrases to the lists")


def pick(rng: random.Random, options: list[str]) -> str:
    return options[rng.randrange(len(options))]


# --------------------------------------------------------------------------------------------
# Planted dirt, as recorded in the README table and the registry notes
# --------------------------------------------------------------------------------------------

DIRT_KINDS: dict[str, str] = {
    "duplicate_same_label": "extra rows repeating an earlier row's text (and text pair) in the same file, same class",
    "duplicate_conflicting_label": (
        "texts (or text pairs) that occur twice in the same file with labels of different classes"
    ),
    "label_spelling": "rows whose raw label is written in this non-canonical spelling",
    "too_short": "rows whose text has fewer than three letters",
    "train_test_overlap": "texts (or text pairs) that occur in both the train and the test file",
    "html_entity": "rows whose text contains an HTML entity such as `&amp;` or `&quot;`",
    "extra_whitespace": "rows whose text has leading, trailing or repeated whitespace",
    "bare_quote": 'rows whose text contains a bare `"` character (counted only in files read without quoting)',
}


@dataclass(frozen=True)
class Dirt:
    kind: str
    where: str  # a file name, or "train.x + test.x" for overlap
    count: int
    value: str = ""  # the label spelling for label_spelling
    detail: str = ""


@dataclass
class RawFile:
    split: str
    name: str
    rows: list[dict]


@dataclass
class Dataset:
    slug: str
    name: str
    language: str
    task: str
    task_type: str
    capability: str
    task_definition: str
    labels: list[str]
    label_native: dict[str, dict[str, str]]
    fmt: str
    columns: list[str]  # raw columns, in file order
    column_map: dict[str, str]
    files: list[RawFile]
    description: str
    label_space: list[str] = field(default_factory=list)
    label_mapping: dict[str, str] = field(default_factory=dict)
    delimiter: str | None = None
    quoting: bool = True
    header: bool = True
    html_unescape: bool = False
    dirt: list[Dirt] = field(default_factory=list)
    format_notes: str = ""

    @property
    def has_official_split(self) -> str:
        return "yes" if len(self.files) > 1 else "no"


def shuffled(rng: random.Random, rows: list[dict]) -> list[dict]:
    rows = list(rows)
    rng.shuffle(rows)
    return rows


def take(rng: random.Random, rows: list[dict], cls: str, touched: set[int]) -> dict:
    """A row of class cls not used for other dirt yet (ids of rows are tracked in touched)."""
    candidates = [r for r in rows if r["_cls"] == cls and id(r) not in touched]
    row = candidates[rng.randrange(len(candidates))]
    touched.add(id(row))
    return row


def copy_row(row: dict, **changes: str) -> dict:
    out = dict(row)
    out.update(changes)
    return out


def add_whitespace(text: str, how: int) -> str:
    words = text.split(" ")
    if how == 0:
        return "  " + text + "  "
    if how == 1:
        mid = max(1, len(words) // 2)
        return " ".join(words[:mid]) + "   " + " ".join(words[mid:])
    if how == 2:
        return text + " \n"
    return text.replace(" ", "  ", 2)


# --------------------------------------------------------------------------------------------
# demo_news_sentiment_en: English news sentences, positive / negative / neutral, quoted CSV
# --------------------------------------------------------------------------------------------

SENT_SUBJECTS = [
    "The Riverton city council",
    "Northgate Rail",
    "Harbor Bank",
    "The Lakeside school board",
    "Greenfield Farms",
    "The Maple Valley hospital",
    "Sunport airport",
    "Brightwave Energy",
    "The Eastbrook library",
    "Coastline Ferries",
    "Pinehill Motors",
    "The Westfield museum",
    "Silverline Telecom",
    "The Oakridge football club",
    "Redstone Mining",
    "Bluewater Foods",
    "The Stonehaven port authority",
    "Cedar Hill University",
    "Goldleaf Publishing",
    "The Brookvale water board",
]
SENT_TIMES = [
    "on Monday",
    "on Tuesday",
    "this week",
    "last quarter",
    "in March",
    "after a board vote",
    "on Friday evening",
    "this morning",
    "during the summer",
    "late on Thursday",
    "at the start of the year",
    "in its latest update",
]
SENT_PRED = {
    "positive": [
        "reported record growth",
        "was praised for its new service",
        "celebrated a major success",
        "welcomed a strong boost in visitors",
        "announced a breakthrough in battery research",
        "won an award for its clean design",
        "expanded hiring after excellent results",
        "saw profits improve sharply",
        "delivered impressive gains",
        "received glowing reviews",
        "beat expectations with a surge in sales",
        "hailed a remarkable recovery",
    ],
    "negative": [
        "announced hundreds of layoffs",
        "was criticised for repeated delays",
        "suffered a serious setback",
        "reported heavy losses",
        "faced angry protests",
        "was hit by a bribery scandal",
        "ordered a sudden shutdown",
        "saw its shares collapse",
        "failed a safety inspection",
        "warned of falling revenue",
        "drew outrage over price hikes",
        "admitted a costly mistake",
    ],
    "neutral": [
        "published its meeting schedule",
        "confirmed the date of its annual meeting",
        "released the agenda for next month",
        "held a routine press briefing",
        "updated its opening hours",
        "listed the members of a new committee",
        "scheduled a review of its budget",
        "announced a change of address",
        "filed its quarterly report",
        "said the timetable remains unchanged",
        "named a new spokesperson",
        "issued a statement on procedures",
    ],
}
SENT_CLAUSE = {
    "positive": [
        'and residents said they were "thrilled"',
        'with analysts calling it "excellent news"',
        'and staff described the mood as "fantastic"',
        'prompting "great joy" among local families',
        'with the mayor praising a "wonderful result"',
        'and customers said service was "better than ever"',
        'which investors called "a big win"',
        'and one worker said, "we are delighted"',
        'with experts hailing "impressive progress"',
        'and visitors called it "a real success"',
    ],
    "negative": [
        'and residents said they were "furious"',
        'with analysts calling it "terrible news"',
        'and staff described the mood as "grim"',
        'prompting "deep anger" among local families',
        'with the mayor condemning a "shameful failure"',
        'and customers said service was "worse than ever"',
        'which investors called "a disaster"',
        'and one worker said, "we are devastated"',
        'with experts warning of "serious damage"',
        'and visitors called it "a huge disappointment"',
    ],
    "neutral": [
        'and a spokesperson said details are "on the website"',
        'with officials noting the "usual process"',
        'and staff described it as "standard practice"',
        'according to a "routine notice"',
        'with the clerk reading out the "official minutes"',
        'and a spokesperson said, "no further comment"',
        'which officials called "an administrative step"',
        'and the documents are "available on request"',
        'with the next update due "in two weeks"',
        'and the notice will be "posted online"',
    ],
}


def _sentiment_text(cls: str) -> Callable[[random.Random], tuple[str, ...]]:
    def make(rng: random.Random) -> tuple[str, ...]:
        text = f"{pick(rng, SENT_SUBJECTS)} {pick(rng, SENT_PRED[cls])} {pick(rng, SENT_TIMES)}"
        return (f"{text}, {pick(rng, SENT_CLAUSE[cls])}.",)

    return make


def build_sentiment() -> Dataset:
    slug = "demo_news_sentiment_en"
    rng = random.Random(f"{SEED}-{slug}")
    pool = Pool(rng, 0.7)
    classes = ["positive", "negative", "neutral"]
    # Final class counts per file; planted extra rows are taken off the base counts below.
    base = {
        "train": {"positive": 49, "negative": 49, "neutral": 49},  # + 3 duplicates = 150
        "dev": {"positive": 10, "negative": 10, "neutral": 10},
        "test": {"positive": 19, "negative": 19, "neutral": 20},  # + 2 overlap rows = 60
    }
    rows: dict[str, list[dict]] = {}
    for split, counts in base.items():
        rows[split] = []
        for cls in classes:
            for _ in range(counts[cls]):
                (text,) = pool.draw(_sentiment_text(cls))
                rows[split].append({"sentence": text, "sentiment": cls, "_cls": cls})
    touched: set[int] = set()
    dups = [copy_row(take(rng, rows["train"], cls, touched)) for cls in classes]
    overlap = [copy_row(take(rng, rows["train"], cls, touched)) for cls in ("positive", "negative")]
    # HTML entities: three in train (two &amp;, one &quot;), one in test; extra whitespace: three in train.
    # Only sentences with " and " qualify; all of them carry a quoted clause too.
    for split, cls, entity in (
        ("train", "positive", "amp"),
        ("train", "negative", "amp"),
        ("train", "neutral", "quot"),
        ("test", "neutral", "amp"),
    ):
        row = take(rng, [r for r in rows[split] if " and " in r["sentence"]], cls, touched)
        if entity == "amp":
            row["sentence"] = row["sentence"].replace(" and ", " &amp; ", 1)
        else:
            row["sentence"] = row["sentence"].replace('"', "&quot;")
    for i, cls in enumerate(classes):
        row = take(rng, rows["train"], cls, touched)
        row["sentence"] = add_whitespace(row["sentence"], i if i < 2 else 3)
    rows["train"] += dups
    rows["test"] += overlap
    files = []
    for split in ("train", "dev", "test"):
        out = shuffled(rng, rows[split])
        for i, row in enumerate(out, start=1):
            row["id"] = f"sent-{split}-{i:04d}"
        files.append(RawFile(split, f"{split}.csv", out))
    return Dataset(
        slug=slug,
        name="DemoNewsSentiment",
        language="en",
        task="Sentiment Classification",
        task_type="classification",
        capability="sentiment_emotion_others",
        task_definition=(
            "Classify the sentiment a short news sentence expresses about its subject as positive, negative or neutral."
        ),
        labels=["positive", "negative", "neutral"],
        label_native={},
        label_space=["positive", "negative", "neutral"],
        fmt="csv",
        delimiter=",",
        columns=["id", "sentence", "sentiment"],
        column_map={"text": "sentence", "id": "id", "label": "sentiment"},
        files=files,
        html_unescape=True,
        description=(
            "English one-sentence news items about fictional towns and companies, labelled positive, "
            "negative or neutral. Quoted CSV: most sentences contain commas and embedded double quotes, "
            'written with standard CSV quoting ("" inside quoted fields). Official train/dev/test files.'
        ),
        dirt=[
            Dirt("duplicate_same_label", "train.csv", 3, detail="one per class"),
            Dirt("train_test_overlap", "train.csv + test.csv", 2, detail="one positive, one negative"),
            Dirt("html_entity", "train.csv", 3, detail="two `&amp;`, one `&quot;...&quot;`"),
            Dirt("html_entity", "test.csv", 1, detail="`&amp;`"),
            Dirt("extra_whitespace", "train.csv", 3),
        ],
    )


# --------------------------------------------------------------------------------------------
# demo_sarcasm_ar: Arabic tweets, sarcastic TRUE / FALSE, TSV without quoting
# --------------------------------------------------------------------------------------------

SARC_SITUATIONS = [
    "الكهرباء اللي تنقطع كل ساعة",
    "الإنترنت اللي صار أبطأ من السلحفاة",
    "الزحمة الخانقة في الشارع الرئيسي",
    "الباص اللي تأخر ساعتين عن موعده",
    "الفاتورة اللي تضاعفت هذا الشهر",
    "المكيف اللي خرب في عز الصيف",
    "التطبيق اللي يعلق مع كل تحديث",
    "الامتحان اللي نزل قبل العيد بيوم",
    "المطعم اللي قدم لنا الأكل باردا",
    "الطابور الطويل في البنك من الصباح",
    "المطر اللي غرق الشوارع في دقائق",
    "الاجتماع اللي استمر ثلاث ساعات بلا نتيجة",
    "الطلبية اللي وصلت بعد شهر كامل",
    "الموظف اللي طلب نفس الورقة خمس مرات",
    "الرحلة اللي تأجلت للمرة الرابعة",
    "الهاتف الجديد اللي بطاريته ما تكمل يوم",
]
SARC_TIMES = ["اليوم", "من أمس", "هذا الأسبوع", "كل يوم", "مرة ثانية", "من جديد", "في حينا", "في مدينتنا"]
SARC_OPEN = {
    "sarcastic": [
        "يا سلام على",
        "ما شاء الله على",
        "برافو على",
        "يا حلاوة",
        "أجمل شيء في حياتي:",
        "تسلم الأيادي على",
        "ما أروع",
        "عظمة على عظمة:",
        "حبيت جدا",
        "قمة الإبداع:",
    ],
    "not-sarcastic": [
        "للأسف",
        "بصراحة تعبنا من",
        "نرجو حل مشكلة",
        "الله يعين الناس على",
        "من فضلكم انتبهوا إلى",
        "شكوى رسمية بخصوص",
        "نتمنى معالجة",
        "لاحظنا",
        "مشكلة حقيقية:",
        "نطالب الجهات المعنية بحل",
    ],
}
SARC_TAIL = {
    "sarcastic": [
        "إنجاز تاريخي طبعا 😂",
        "عبقرية ما بعدها عبقرية",
        "ولا أروع من كذا 🙃",
        "نعمة والله 😂",
        "أكيد هذا قمة التطور",
        "مبدعين كالعادة 👏😂",
        "الله لا يحرمنا منكم 🙃",
        "خدمة خمس نجوم طبعا",
        "فخورين فيكم جدا 😂",
        "تستاهلون جائزة نوبل",
    ],
    "not-sarcastic": [
        "ونتمنى حلا سريعا",
        "ونرجو من المسؤولين المتابعة",
        "الله يصلح الحال",
        "ونحتاج خطة واضحة",
        "وشكرا لكل من يساعد",
        "ونطلب توضيحا رسميا",
        "وهذا يؤثر على الجميع",
        "وننتظر الرد في أقرب وقت",
        "ونأمل أن تتحسن الخدمة",
        "وسنتابع الموضوع",
    ],
}
# Texts with bare " characters (the TSV is read without quoting); {s} is a situation.
SARC_QUOTED = [
    ("sarcastic", 'قالوا "أفضل خدمة في البلد" وعندنا {s} 😂'),
    ("sarcastic", '"تطوير مستمر" على حد قولهم، و{s} طبعا 🙃'),
    ("sarcastic", 'برافو على الشعار الجديد "الأفضل دائما مع {s} 😂'),
    ("not-sarcastic", 'قال الموظف "سنحل المشكلة قريبا" بخصوص {s}، ونتمنى ذلك'),
    ("not-sarcastic", 'البيان الرسمي: "الخدمة ستعود خلال يومين"، وللأسف ما زالت {s}'),
]
SARC_RAW = {"sarcastic": "TRUE", "not-sarcastic": "FALSE"}


def _sarcasm_text(cls: str) -> Callable[[random.Random], tuple[str, ...]]:
    def make(rng: random.Random) -> tuple[str, ...]:
        return (
            f"{pick(rng, SARC_OPEN[cls])} {pick(rng, SARC_SITUATIONS)} {pick(rng, SARC_TIMES)}، "
            f"{pick(rng, SARC_TAIL[cls])}",
        )

    return make


def build_sarcasm() -> Dataset:
    slug = "demo_sarcasm_ar"
    rng = random.Random(f"{SEED}-{slug}")
    pool = Pool(rng, 0.7)
    classes = ["sarcastic", "not-sarcastic"]
    base = {
        "train": {"sarcastic": 77, "not-sarcastic": 77},  # + 2 conflicting copies + 4 short = 160
        "test": {"sarcastic": 24, "not-sarcastic": 25},  # + 1 overlap row = 50
    }
    rows: dict[str, list[dict]] = {"train": [], "test": []}
    quoted = list(SARC_QUOTED)
    for split, counts in base.items():
        for cls in classes:
            for _ in range(counts[cls]):
                mine = [q for q in quoted if q[0] == cls] if split == "train" else []
                if mine:
                    quoted.remove(mine[0])
                    template = mine[0][1]
                    (text,) = pool.draw(lambda r, t=template: (t.format(s=pick(r, SARC_SITUATIONS)),))
                else:
                    (text,) = pool.draw(_sarcasm_text(cls))
                rows[split].append({"tweet": text, "sarcasm": SARC_RAW[cls], "_cls": cls})
    touched: set[int] = set()
    for row in rows["train"]:
        if '"' in row["tweet"]:
            touched.add(id(row))
    conflicts = []
    for cls, other in (("sarcastic", "not-sarcastic"), ("not-sarcastic", "sarcastic")):
        conflicts.append(copy_row(take(rng, rows["train"], cls, touched), sarcasm=SARC_RAW[other], _cls=other))
    short = [("؟؟", "not-sarcastic"), ("😂😂", "sarcastic"), ("!!", "not-sarcastic"), ("هه", "sarcastic")]
    overlap = copy_row(take(rng, rows["train"], "sarcastic", touched))
    rows["train"] += conflicts + [{"tweet": t, "sarcasm": SARC_RAW[c], "_cls": c} for t, c in short]
    rows["test"].append(overlap)
    files = []
    for split in ("train", "test"):
        out = shuffled(rng, rows[split])
        for i, row in enumerate(out, start=1):
            row["id"] = f"{split[:2]}{i:05d}"
        files.append(RawFile(split, f"{split}.tsv", out))
    return Dataset(
        slug=slug,
        name="DemoSarcasm",
        language="ar",
        task="Sarcasm Detection",
        task_type="classification",
        capability="sentiment_emotion_others",
        task_definition="Decide whether an Arabic tweet about everyday services is sarcastic or not sarcastic.",
        labels=["sarcastic", "not-sarcastic"],
        label_native={"sarcastic": {"ar": "ساخر"}, "not-sarcastic": {"ar": "غير ساخر"}},
        label_space=["sarcastic", "not-sarcastic"],
        label_mapping={"TRUE": "sarcastic", "FALSE": "not-sarcastic"},
        fmt="tsv",
        delimiter="\t",
        quoting=False,
        columns=["id", "tweet", "sarcasm"],
        column_map={"text": "tweet", "id": "id", "label": "sarcasm"},
        files=files,
        description=(
            "Arabic tweets (colloquial, Arabic script, some emoji) complaining about or mocking everyday "
            "services; the sarcasm column is TRUE for sarcastic and FALSE for not sarcastic. Tab-separated, "
            'NOT quoted: a few tweets contain bare " characters (one starts with one, one never closes it), '
            "which are ordinary text. Official train and test files, no dev file."
        ),
        dirt=[
            Dirt(
                "duplicate_conflicting_label",
                "train.tsv",
                2,
                detail="one TRUE tweet copied as FALSE, and one FALSE tweet copied as TRUE",
            ),
            Dirt("too_short", "train.tsv", 4, detail="`؟؟`, `😂😂`, `!!`, `هه`"),
            Dirt("train_test_overlap", "train.tsv + test.tsv", 1),
            Dirt("bare_quote", "train.tsv", 5),
        ],
        format_notes="TRUE/FALSE raw labels are decoded by ingest.labels.mapping.",
    )


# --------------------------------------------------------------------------------------------
# demo_checkworthy_en: English tweets, check-worthy or not, one JSONL file, label spelling variants
# --------------------------------------------------------------------------------------------

CW_SUBJECTS = [
    "Unemployment in Riverton",
    "The price of bread in Northfield",
    "Hospital admissions in Lakeside county",
    "Crime in the Eastbrook district",
    "The number of electric cars in Sunport",
    "Rainfall in the Greenfield valley",
    "Rent in central Maple City",
    "Traffic deaths on the coastal highway",
    "School enrolment in Pinehill",
    "The national debt of Veloria",
    "Tourism revenue in Silverbay",
    "Youth unemployment in Redstone",
    "The average salary of nurses in Westfield",
    "Air pollution in Oakridge",
    "Flu cases in Brookvale",
    "Water use in Stonehaven",
]
CW_VERBS = ["rose by", "fell by", "increased by", "dropped by", "jumped by", "went up by", "declined by", "grew by"]
CW_TIMES = [
    "in 2023",
    "last year",
    "since January",
    "over the past decade",
    "in the first quarter",
    "between 2019 and 2022",
    "this spring",
    "during the last five years",
]
CW_SOURCES = [
    "according to official figures",
    "a government report says",
    "the statistics office confirmed",
    "a new study shows",
    "data from the ministry shows",
    "the census found",
    "official records confirm",
    "according to the health agency",
    "the central bank reported",
    "a university survey found",
]
NCW_OPEN = [
    "Honestly,",
    "Good morning everyone,",
    "lol",
    "Ugh,",
    "Can't believe it,",
    "Just saying,",
    "Happy Friday!",
    "Not gonna lie,",
    "Omg",
    "Feeling blessed,",
    "So tired today,",
    "Me right now:",
]
NCW_BODY = [
    "my cat knocked over the plant again",
    "this new playlist is amazing",
    "the coffee at my favourite cafe tastes better on weekends",
    "I finally finished the puzzle my sister gave me",
    "my neighbour's dog will not stop barking",
    "I want pizza for dinner",
    "the new season of my favourite show is so good",
    "my phone screen cracked this morning",
    "I love rainy afternoons with a good book",
    "we watched the sunset from the rooftop",
    "my little brother beat me at chess",
    "this song has been stuck in my head all day",
    "I forgot my umbrella again",
    "my plants are finally growing",
    "the bakery on my street makes the best croissants",
    "I need a nap",
]
NCW_TAIL = [
    "#mood",
    "so happy",
    "what a day",
    "wish me luck",
    "love it",
    "can't wait for the weekend",
    "send help",
    "anyone else?",
    ":)",
    "best feeling ever",
    "classic",
    "#blessed",
]


def _cw_text(cls: str) -> Callable[[random.Random], tuple[str, ...]]:
    def make(rng: random.Random) -> tuple[str, ...]:
        if cls == "Check-worthy":
            claim = f"{pick(rng, CW_SUBJECTS)} {pick(rng, CW_VERBS)} {rng.randint(3, 85)} percent {pick(rng, CW_TIMES)}"
            source = pick(rng, CW_SOURCES)
            if rng.random() < 0.5:
                return (f"{claim}, {source}.",)
            return (f"{source[0].upper()}{source[1:]}: {claim[0].lower()}{claim[1:]}.",)
        return (f"{pick(rng, NCW_OPEN)} {pick(rng, NCW_BODY)}, {pick(rng, NCW_TAIL)}",)

    return make


def build_checkworthy() -> Dataset:
    slug = "demo_checkworthy_en"
    rng = random.Random(f"{SEED}-{slug}")
    pool = Pool(rng, 0.7)
    pos, neg = "Check-worthy", "Not-check-worthy"
    rows: list[dict] = []
    for cls in (pos, neg):
        for _ in range(97):  # + 3 duplicates + 1 conflicting copy + 2 short = 200
            (text,) = pool.draw(_cw_text(cls))
            rows.append({"tweet_text": text, "class_label": cls, "_cls": cls})
    touched: set[int] = set()
    extra = [
        copy_row(take(rng, rows, pos, touched)),
        copy_row(take(rng, rows, neg, touched)),
        copy_row(take(rng, rows, pos, touched), class_label="check_worthy"),  # same class, other spelling
        copy_row(take(rng, rows, pos, touched), class_label="not_check_worthy", _cls=neg),  # conflict
        {"tweet_text": "12", "class_label": pos, "_cls": pos},
        {"tweet_text": "ok", "class_label": neg, "_cls": neg},
    ]
    for how in (0, 1, 2):
        row = take(rng, rows, (pos, neg, neg)[how], touched)
        row["tweet_text"] = add_whitespace(row["tweet_text"], how)
    # Spelling variants (counts include the two planted copies above): check_worthy 6, checkworthy 5,
    # not_check_worthy 7.
    for spelling, cls, n in (("check_worthy", pos, 5), ("checkworthy", pos, 5), ("not_check_worthy", neg, 6)):
        for _ in range(n):
            take(rng, rows, cls, touched)["class_label"] = spelling
    out = shuffled(rng, rows + extra)
    for i, row in enumerate(out):
        row["tweet_id"] = 1490000000000000000 + 7919 * (i + 1) + rng.randrange(7000)
        row["tweet_url"] = f"https://example.org/demo/status/{row['tweet_id']}"
    return Dataset(
        slug=slug,
        name="DemoCheckworthy",
        language="en",
        task="Checkworthiness Detection",
        task_type="classification",
        capability="factuality_disinformation_harmful_content",
        task_definition=(
            "Decide whether an English tweet contains a factual claim worth fact-checking (check-worthy) "
            "or not (personal chatter, opinions)."
        ),
        labels=["Check-worthy", "Not-check-worthy"],
        label_native={},
        label_space=["Check-worthy", "check_worthy", "checkworthy", "Not-check-worthy", "not_check_worthy"],
        fmt="jsonl",
        columns=["tweet_id", "tweet_url", "tweet_text", "class_label"],
        column_map={"text": "tweet_text", "id": "tweet_id", "label": "class_label"},
        files=[RawFile("train", "tweets.jsonl", out)],
        description=(
            "English tweets: statistical claims about fictional places (check-worthy) and personal chatter "
            "(not check-worthy). One JSON object per line with tweet_id (a JSON integer), tweet_url, "
            "tweet_text, class_label. One file, no official split. The label is spelled five ways: "
            "Check-worthy / check_worthy / checkworthy and Not-check-worthy / not_check_worthy."
        ),
        dirt=[
            Dirt("label_spelling", "tweets.jsonl", 6, value="check_worthy"),
            Dirt("label_spelling", "tweets.jsonl", 5, value="checkworthy"),
            Dirt("label_spelling", "tweets.jsonl", 7, value="not_check_worthy"),
            Dirt(
                "duplicate_same_label",
                "tweets.jsonl",
                3,
                detail="one of them labelled check_worthy where the first copy says Check-worthy",
            ),
            Dirt("duplicate_conflicting_label", "tweets.jsonl", 1, detail="Check-worthy vs not_check_worthy"),
            Dirt("too_short", "tweets.jsonl", 2, detail="`12`, `ok`"),
            Dirt("extra_whitespace", "tweets.jsonl", 3, detail="one ends with a newline"),
        ],
    )


# --------------------------------------------------------------------------------------------
# demo_hate_hi: Hindi posts, hate / offensive / none, quoted CSV, some Hindi label names
# --------------------------------------------------------------------------------------------

HATE_OPEN = [
    "साफ कह रहा हूँ,",
    "सुन लो सब,",
    "अब बर्दाश्त नहीं,",
    "सच्चाई यही है कि",
    "हर कोई जानता है कि",
    "बार बार कहूँगा,",
    "कोई शक नहीं कि",
    "खुलकर बोलो,",
]
HATE_GROUPS = [
    "वो पड़ोसी बस्ती वाले",
    "उस मोहल्ले के लोग",
    "ये नए आए लोग",
    "वो दूसरी बिरादरी वाले",
    "उस गाँव के लोग",
    "ये बाहर वाले",
]
HATE_PRED = [
    "देश के दुश्मन हैं, इन्हें यहाँ से भगा दो",
    "इंसान कहलाने लायक नहीं हैं",
    "इनको यहाँ रहने का कोई हक नहीं",
    "इनका पूरा बहिष्कार करो",
    "इनसे नफरत करना ही सही है",
    "सब के सब गद्दार हैं",
    "इन्हें शहर से निकाल देना चाहिए",
    "हमारे बीच रहने लायक नहीं",
    "इनकी दुकानों से कुछ मत खरीदो",
    "समाज पर बोझ हैं, इन्हें बाहर करो",
]
OFF_TARGETS = [
    "ये एंकर",
    "हमारा पड़ोसी",
    "वो कमेंट करने वाला",
    "मेरा बॉस",
    "ये यूट्यूबर",
    "तुम्हारा दोस्त",
    "वो टीवी वाला",
    "ये नया कप्तान",
    "वो दुकानदार",
    "ये नेता जी",
]
OFF_PRED = [
    "एकदम बेवकूफ है",
    "पूरा गधा है",
    "नालायक इंसान है",
    "बहुत घटिया आदमी है",
    "पागल हो गया है",
    "मूर्खों का सरदार है",
    "सिर्फ बकवास करता है",
    "बेशर्म और झूठा है",
    "किसी काम का नहीं, निकम्मा है",
    "दिमाग से पैदल है",
]
OFF_TAIL = [
    "शर्म करो",
    "मुँह बंद रखो",
    "चुप हो जा",
    "बकवास बंद करो",
    "क्या फालतू आदमी है",
    "हद है बेवकूफी की",
    "दफा हो जाओ",
    "इसे कोई समझाओ",
]
NONE_TIMES = ["आज शाम", "कल सुबह", "इस रविवार", "पिछले हफ्ते", "आज दोपहर", "कल रात", "इस महीने", "त्योहार के दिन"]
NONE_EVENTS = [
    "बाज़ार में बहुत भीड़ थी",
    "बारिश से मौसम सुहाना हो गया",
    "हमारी टीम ने मैच जीत लिया",
    "स्कूल में वार्षिक समारोह हुआ",
    "नई ट्रेन सेवा शुरू हुई",
    "लाइब्रेरी में नई किताबें आईं",
    "पार्क में योग शिविर लगा",
    "मम्मी ने स्वादिष्ट खाना बनाया",
    "गाँव में मेला लगा",
    "दोस्तों के साथ फिल्म देखी",
    "बगीचे में नए फूल खिले",
    "शहर में साइकिल रैली निकली",
]
NONE_COMMENTS = [
    "सबको बहुत मज़ा आया",
    "अगली बार भी जाएंगे",
    "तस्वीरें जल्द डालूँगा",
    "मौसम बहुत अच्छा था",
    "परिवार के साथ अच्छा समय बीता",
    "सबको शुभकामनाएँ",
    "आप भी ज़रूर आइए",
    "बच्चे बहुत खुश थे",
    "दिन अच्छा रहा",
    "धन्यवाद सभी का",
]
# Romanized, code-mixed posts (four per class): three go to train, one to test.
HATE_ROMAN = {
    "hate": [
        "woh basti wale log desh ke dushman hain, inko yahan se bhaga do",
        "ye bahar wale log insaan kehlane layak nahi, inka poora bahishkar karo",
        "us mohalle ke logon se nafrat hi sahi hai, sab ke sab gaddar hain",
        "ye naye aaye log samaj par bojh hain, inhe shehar se nikal do",
    ],
    "offensive": [
        "ye anchor ekdum bewakoof hai, bakwas band karo yaar",
        "mera boss pura gadha hai, shame on him",
        "woh commentator nalayak insaan hai, chup ho ja",
        "ye youtuber dimaag se paidal hai, kya faltu aadmi hai",
    ],
    "none": [
        "aaj ka match bahut accha tha, next time bhi dekhenge",
        "kal market mein bahut bheed thi but maza aaya",
        "is weekend family ke saath picnic pe gaye, din accha raha",
        "nayi train service shuru hui, travel ab easy hai",
    ],
}
HATE_NATIVE = {"hate": "नफरत", "offensive": "अपमानजनक"}


def _hate_text(cls: str) -> Callable[[random.Random], tuple[str, ...]]:
    def make(rng: random.Random) -> tuple[str, ...]:
        if cls == "hate":
            return (f"{pick(rng, HATE_OPEN)} {pick(rng, HATE_GROUPS)} {pick(rng, HATE_PRED)}।",)
        if cls == "offensive":
            return (f"{pick(rng, OFF_TARGETS)} {pick(rng, OFF_PRED)}, {pick(rng, OFF_TAIL)}।",)
        return (f"{pick(rng, NONE_TIMES)} {pick(rng, NONE_EVENTS)}, {pick(rng, NONE_COMMENTS)}।",)

    return make


def build_hate() -> Dataset:
    slug = "demo_hate_hi"
    rng = random.Random(f"{SEED}-{slug}")
    pool = Pool(rng, 0.7)
    classes = ["hate", "offensive", "none"]
    base = {
        "train": {"hate": 49, "offensive": 49, "none": 49},  # + conflict copy + 2 short = 150
        "test": {"hate": 17, "offensive": 17, "none": 16},  # + 1 overlap row = 51
    }
    rows: dict[str, list[dict]] = {"train": [], "test": []}
    for split, counts in base.items():
        for cls in classes:
            roman = HATE_ROMAN[cls][:3] if split == "train" else HATE_ROMAN[cls][3:]
            for text in roman:
                if not pool.accept(text):
                    raise RuntimeError(f"romanized text collides: {text}")
                rows[split].append({"post": text, "label": cls, "_cls": cls, "_roman": True})
            for _ in range(counts[cls] - len(roman)):
                (text,) = pool.draw(_hate_text(cls))
                rows[split].append({"post": text, "label": cls, "_cls": cls})
    touched: set[int] = {id(r) for split in rows.values() for r in split if r.get("_roman")}
    conflict = copy_row(take(rng, rows["train"], "offensive", touched), label="hate", _cls="hate")
    overlap = copy_row(take(rng, rows["train"], "none", touched))
    for split, cls, n in (("train", "hate", 3), ("train", "offensive", 3), ("test", "hate", 1)):
        for _ in range(n):
            take(rng, rows[split], cls, touched)["label"] = HATE_NATIVE[cls]
    rows["train"] += [
        conflict,
        {"post": "😂😂", "label": "none", "_cls": "none"},
        {"post": "12", "label": "offensive", "_cls": "offensive"},
    ]
    rows["test"].append(overlap)
    files = []
    for split in ("train", "test"):
        out = shuffled(rng, rows[split])
        for i, row in enumerate(out, start=1):
            row["text_id"] = f"hi-{split}-{i:03d}"
        files.append(RawFile(split, f"{split}.csv", out))
    return Dataset(
        slug=slug,
        name="DemoHateSpeech",
        language="hi",
        task="Hate Speech Detection",
        task_type="classification",
        capability="factuality_disinformation_harmful_content",
        task_definition=(
            "Classify a Hindi social-media post as hate (hostility against a whole group), offensive "
            "(insults aimed at a person) or none."
        ),
        labels=["hate", "offensive", "none"],
        label_native={"hate": {"hi": "नफरत"}, "offensive": {"hi": "अपमानजनक"}, "none": {"hi": "सामान्य"}},
        label_space=["hate", "offensive", "none", "नफरत", "अपमानजनक"],
        fmt="csv",
        delimiter=",",
        columns=["text_id", "post", "label"],
        column_map={"text": "post", "id": "text_id", "label": "label"},
        files=files,
        description=(
            "Hindi posts in Devanagari (12 romanized, code-mixed Hinglish: 9 in train, 3 in test) labelled "
            "hate, offensive or none; the groups attacked are unnamed and fictional. Quoted CSV with official "
            "train and test files. A few rows carry the Hindi label name instead of the English one."
        ),
        dirt=[
            Dirt("label_spelling", "train.csv", 3, value="नफरत", detail="Hindi name of hate"),
            Dirt("label_spelling", "test.csv", 1, value="नफरत", detail="Hindi name of hate"),
            Dirt("label_spelling", "train.csv", 3, value="अपमानजनक", detail="Hindi name of offensive"),
            Dirt("duplicate_conflicting_label", "train.csv", 1, detail="offensive post copied as hate"),
            Dirt("too_short", "train.csv", 2, detail="`😂😂`, `12`"),
            Dirt("train_test_overlap", "train.csv + test.csv", 1),
        ],
    )


# --------------------------------------------------------------------------------------------
# demo_stance_ar: Arabic tweet + claim, agree / disagree / unrelated, JSONL
# --------------------------------------------------------------------------------------------

STANCE_CLAIMS = [
    ("وزارة التعليم تعلن إغلاق المدارس لمدة أسبوعين", "إغلاق المدارس"),
    ("ارتفاع سعر الخبز بنسبة عشرين بالمئة", "زيادة سعر الخبز"),
    ("افتتاح مطار جديد في العاصمة الشهر القادم", "افتتاح المطار الجديد"),
    ("البنك المركزي يرفع سعر الفائدة", "رفع سعر الفائدة"),
    ("تأجيل الامتحانات النهائية إلى الصيف", "تأجيل الامتحانات"),
    ("اكتشاف حقل غاز جديد قبالة الساحل", "حقل الغاز الجديد"),
    ("منع الأكياس البلاستيكية في المتاجر", "منع الأكياس البلاستيكية"),
    ("زيادة رواتب المعلمين ابتداء من يناير", "زيادة رواتب المعلمين"),
    ("إغلاق الطريق السريع بسبب أعمال الصيانة", "إغلاق الطريق السريع"),
    ("المنتخب الوطني يتأهل إلى نهائيات كأس العالم", "تأهل المنتخب"),
]
STANCE_OPEN = {
    "agree": ["صحيح،", "فعلا،", "تأكيد رسمي:", "بالفعل", "مؤكد:", "نعم صحيح،", "حقيقة:", "هذا ما حدث فعلا:"],
    "disagree": ["كذب،", "غير صحيح،", "إشاعة:", "لا تصدقوا", "انتبهوا، كذبة:", "مفبرك:", "خطأ،", "كلام فاضي:"],
}
STANCE_MID = {
    "agree": [
        "أعلنته الجهات الرسمية اليوم",
        "نشره الموقع الرسمي",
        "ذكرته كل الصحف",
        "تم الإعلان عنه في مؤتمر صحفي",
        "صدر به قرار رسمي",
        "أكده المتحدث باسم الحكومة",
        "ظهر في البيان الرسمي",
        "نقلته وكالة الأنباء",
    ],
    "disagree": [
        "نفته الجهات الرسمية اليوم",
        "ليس له أي أساس",
        "لم يصدر به أي قرار",
        "كذبه المتحدث باسم الحكومة",
        "مجرد إشاعة على مواقع التواصل",
        "لم يذكره أي مصدر رسمي",
        "تم نفيه في البيان الرسمي",
        "معلومة خاطئة وصورة مفبركة",
    ],
}
STANCE_TAIL = {
    "agree": [
        "والخبر مؤكد",
        "وهذا صحيح تماما",
        "ولا شك في ذلك",
        "والتأكيد جاء رسميا",
        "والمعلومة دقيقة",
        "وأنا أؤكد ذلك",
        "وهذا ما حصل بالفعل",
        "والقرار ثابت",
    ],
    "disagree": [
        "فلا تنشروه",
        "والحقيقة عكس ذلك",
        "وهذا غير دقيق",
        "فلا تصدقوا الإشاعات",
        "والخبر كاذب",
        "وأنا أنفي ذلك",
        "ولم يحدث شيء من هذا",
        "والنفي رسمي",
    ],
}
UNREL_TIMES = ["اليوم", "أمس", "في نهاية الأسبوع", "هذا الصباح", "بعد العصر", "في المساء", "قبل قليل", "الليلة"]
UNREL_EVENTS = [
    "جربت وصفة كبسة جديدة",
    "شاهدت مباراة كرة قدم ممتعة",
    "زرت معرض الكتاب مع أصدقائي",
    "ذهبت إلى البحر مع العائلة",
    "زرعت شجرة ليمون في الحديقة",
    "قرأت رواية جميلة",
    "تمشيت في الحديقة العامة",
    "اشتريت دراجة جديدة",
    "طبخت شوربة العدس",
    "رسمت لوحة للغروب",
    "حضرت حفلة موسيقية",
    "نظفت السيارة بنفسي",
]
UNREL_COMMENTS = [
    "وكانت التجربة رائعة",
    "والجو كان لطيفا",
    "أنصحكم بها",
    "وقضيت وقتا ممتعا",
    "والصور قريبا",
    "وكان يوما جميلا",
    "وأنا سعيد جدا",
    "والحمد لله",
    "وأتمنى أكررها",
    "وكانت بسيطة",
]


def _stance_pair(cls: str) -> Callable[[random.Random], tuple[str, ...]]:
    def make(rng: random.Random) -> tuple[str, ...]:
        claim, topic = STANCE_CLAIMS[rng.randrange(len(STANCE_CLAIMS))]
        if cls == "unrelated":
            tweet = f"{pick(rng, UNREL_TIMES)} {pick(rng, UNREL_EVENTS)}، {pick(rng, UNREL_COMMENTS)}"
        else:
            tweet = (
                f"{pick(rng, STANCE_OPEN[cls])} خبر {topic} {pick(rng, STANCE_MID[cls])}، {pick(rng, STANCE_TAIL[cls])}"
            )
        return (tweet, claim)

    return make


def build_stance() -> Dataset:
    slug = "demo_stance_ar"
    rng = random.Random(f"{SEED}-{slug}")
    pool = Pool(rng, 0.7)
    classes = ["agree", "disagree", "unrelated"]
    base = {
        "train": {"agree": 49, "disagree": 49, "unrelated": 50},  # + 2 duplicates = 150
        "test": {"agree": 15, "disagree": 15, "unrelated": 14},  # + 1 overlap row = 45
    }
    rows: dict[str, list[dict]] = {"train": [], "test": []}
    for split, counts in base.items():
        for cls in classes:
            for _ in range(counts[cls]):
                tweet, claim = pool.draw(_stance_pair(cls))
                rows[split].append({"claim": claim, "tweet": tweet, "stance": cls, "_cls": cls})
    touched: set[int] = set()
    dups = [copy_row(take(rng, rows["train"], cls, touched)) for cls in ("agree", "disagree")]
    overlap = copy_row(take(rng, rows["train"], "unrelated", touched))
    rows["train"] += dups
    rows["test"].append(overlap)
    files = []
    for split in ("train", "test"):
        out = shuffled(rng, rows[split])
        for i, row in enumerate(out, start=1):
            row["id"] = f"st-{split}-{i:03d}"
        files.append(RawFile(split, f"{split}.jsonl", out))
    return Dataset(
        slug=slug,
        name="DemoStance",
        language="ar",
        task="Stance Detection",
        task_type="pair_classification",
        capability="sentiment_emotion_others",
        task_definition=(
            "Given an Arabic tweet and a news claim, decide whether the tweet agrees with the claim, "
            "disagrees with it, or is unrelated to it."
        ),
        labels=["agree", "disagree", "unrelated"],
        label_native={"agree": {"ar": "موافق"}, "disagree": {"ar": "معارض"}, "unrelated": {"ar": "غير مرتبط"}},
        label_space=["agree", "disagree", "unrelated"],
        fmt="jsonl",
        columns=["id", "claim", "tweet", "stance"],
        column_map={"text": "tweet", "text_pair": "claim", "id": "id", "label": "stance"},
        files=files,
        description=(
            "Arabic tweets paired with one of ten fictional news claims (the claim is the text pair; claims "
            "repeat across rows, tweets do not). JSON lines with id, claim, tweet, stance. Official train "
            "and test files."
        ),
        dirt=[
            Dirt("duplicate_same_label", "train.jsonl", 2, detail="same tweet and claim twice (agree, disagree)"),
            Dirt("train_test_overlap", "train.jsonl + test.jsonl", 1, detail="an unrelated pair"),
        ],
    )


# --------------------------------------------------------------------------------------------
# demo_nli_hi: Hindi premise + hypothesis, entailment / contradiction / neutral, TSV without header
# --------------------------------------------------------------------------------------------

NLI_PEOPLE = [
    ("राहुल", "m"),
    ("सीमा", "f"),
    ("अमित", "m"),
    ("प्रिया", "f"),
    ("विकास", "m"),
    ("नेहा", "f"),
    ("अर्जुन", "m"),
    ("कविता", "f"),
    ("रोहन", "m"),
    ("पूजा", "f"),
    ("सुरेश", "m"),
    ("अनीता", "f"),
    ("मोहन", "m"),
    ("रीना", "f"),
    ("करण", "m"),
    ("दीपा", "f"),
]
NLI_TIMES = ["कल सुबह", "पिछले रविवार", "आज दोपहर", "बीते सोमवार", "परसों शाम", "पिछले महीने", "आज सुबह", "कल रात"]
# (place as a destination, place as a location, activity)
NLI_PLACES = [
    ("पार्क", "पार्क में", "क्रिकेट खेला"),
    ("बाज़ार", "बाज़ार में", "सब्ज़ियाँ खरीदीं"),
    ("पुस्तकालय", "पुस्तकालय में", "दो किताबें पढ़ीं"),
    ("स्टेशन", "स्टेशन पर", "दोस्त का इंतज़ार किया"),
    ("अस्पताल", "अस्पताल में", "अपनी दादी से मुलाकात की"),
    ("स्कूल", "स्कूल में", "विज्ञान की प्रदर्शनी लगाई"),
    ("नदी के किनारे", "नदी के किनारे पर", "तस्वीरें खींचीं"),
    ("दफ्तर", "दफ्तर में", "एक लंबी बैठक की"),
    ("बगीचे", "बगीचे में", "पौधों को पानी दिया"),
    ("सिनेमाघर", "सिनेमाघर में", "एक नई फिल्म देखी"),
    ("मंदिर", "मंदिर में", "दीये जलाए"),
    ("स्टेडियम", "स्टेडियम में", "फुटबॉल मैच देखा"),
]
NLI_HYP = {
    "entailment": [
        "यह सच है कि {p} {time} {dest} {went}।",
        "{p} सचमुच {dest} {went}।",
        "निश्चित रूप से {p} {time} {loc} {was}।",
        "यह पक्की बात है कि {p} ने {loc} समय बिताया।",
    ],
    "contradiction": [
        "{p} कभी {dest} नहीं {went_neg}।",
        "{p} {time} {loc} बिल्कुल नहीं {was}।",
        "यह गलत है कि {p} {time} घर से बाहर {left}।",
        "{p} ने {time} कुछ भी नहीं किया और कहीं नहीं {went_neg}।",
    ],
    "neutral": [
        "शायद {p} को {dest} जाना बहुत पसंद है।",
        "संभवतः {p} के साथ कोई दोस्त भी {was}।",
        "हो सकता है कि {p} अगले हफ्ते फिर {dest} {will_go}।",
        "शायद {p} वहाँ से जल्दी घर लौटने की सोच {thinking} {was}।",
    ],
}
NLI_GENDER = {
    "m": {"went": "गया था", "went_neg": "गया", "was": "था", "will_go": "जाएगा", "left": "निकला", "thinking": "रहा"},
    "f": {"went": "गई थी", "went_neg": "गई", "was": "थी", "will_go": "जाएगी", "left": "निकली", "thinking": "रही"},
}


def _nli_pair(cls: str) -> Callable[[random.Random], tuple[str, ...]]:
    def make(rng: random.Random) -> tuple[str, ...]:
        person, gender = NLI_PEOPLE[rng.randrange(len(NLI_PEOPLE))]
        time = pick(rng, NLI_TIMES)
        dest, loc, activity = NLI_PLACES[rng.randrange(len(NLI_PLACES))]
        premise = f"{person} ने {time} {loc} {activity}।"
        forms = NLI_GENDER[gender]
        hyp = pick(rng, NLI_HYP[cls]).format(p=person, time=time, dest=dest, loc=loc, **forms)
        return (premise, hyp)

    return make


def build_nli() -> Dataset:
    slug = "demo_nli_hi"
    rng = random.Random(f"{SEED}-{slug}")
    pool = Pool(rng, 0.7)
    classes = ["entailment", "contradiction", "neutral"]
    base = {
        "train": {"entailment": 50, "contradiction": 50, "neutral": 49},  # + 1 conflicting copy = 150
        "test": {"entailment": 15, "contradiction": 15, "neutral": 15},
    }
    rows: dict[str, list[dict]] = {"train": [], "test": []}
    for split, counts in base.items():
        for cls in classes:
            for _ in range(counts[cls]):
                premise, hyp = pool.draw(_nli_pair(cls))
                rows[split].append({"premise": premise, "hypothesis": hyp, "label": cls, "_cls": cls})
    touched: set[int] = set()
    conflict = copy_row(take(rng, rows["train"], "entailment", touched), label="neutral", _cls="neutral")
    for how in (1, 3):
        row = take(rng, rows["train"], "contradiction", touched)
        row["premise"] = add_whitespace(row["premise"], how)
    rows["train"].append(conflict)
    files = []
    for split in ("train", "test"):
        out = shuffled(rng, rows[split])
        for i, row in enumerate(out, start=1):
            row["pair_id"] = f"nli{'tr' if split == 'train' else 'te'}{i:04d}"
        files.append(RawFile(split, f"{split}.tsv", out))
    return Dataset(
        slug=slug,
        name="DemoNLI",
        language="hi",
        task="Natural Language Inference",
        task_type="pair_classification",
        capability="semantics",
        task_definition=(
            "Given a Hindi premise and hypothesis, decide whether the premise entails the hypothesis, "
            "contradicts it, or neither (neutral)."
        ),
        labels=["entailment", "contradiction", "neutral"],
        label_native={
            "entailment": {"hi": "निहितार्थ"},
            "contradiction": {"hi": "विरोधाभास"},
            "neutral": {"hi": "तटस्थ"},
        },
        label_space=["entailment", "contradiction", "neutral"],
        fmt="tsv",
        delimiter="\t",
        quoting=False,
        header=False,
        columns=["pair_id", "premise", "hypothesis", "label"],
        column_map={"text": "premise", "text_pair": "hypothesis", "id": "pair_id", "label": "label"},
        files=files,
        description=(
            "Hindi premise/hypothesis pairs about fictional people's day (premise: who did what, when, where). "
            "Tab-separated WITHOUT a header row (columns: pair_id, premise, hypothesis, label) and without "
            "quoting. Official train and test files."
        ),
        dirt=[
            Dirt("duplicate_conflicting_label", "train.tsv", 1, detail="an entailment pair copied as neutral"),
            Dirt("extra_whitespace", "train.tsv", 2, detail="in the premise"),
        ],
    )


# --------------------------------------------------------------------------------------------
# demo_summaries_en: English local-news paragraph -> one-sentence summary, JSONL
# --------------------------------------------------------------------------------------------

TOWNS = [
    "Alderford",
    "Bramblewick",
    "Castlemoor",
    "Dunmere",
    "Elmstead",
    "Fairhaven",
    "Glenrock",
    "Hollowbrook",
    "Ivywood",
    "Juniper Falls",
    "Kingsbridge",
    "Larkspur",
    "Millbrook",
    "Northcliff",
    "Oakhurst",
    "Pebblebay",
    "Quarry Hill",
    "Rosedale",
    "Thornbury",
    "Willowmere",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NAMES = [
    "Lina Ortiz",
    "Samuel Reed",
    "Amara Okafor",
    "Tom Becker",
    "Priya Nair",
    "Jonas Berg",
    "Fatima Haddad",
    "Leo Marsh",
    "Grace Kim",
    "Omar Saleh",
    "Hannah Cole",
    "Diego Ramos",
    "Mei Chen",
    "Noah Fischer",
    "Ruth Adeyemi",
    "Ivan Petrov",
]
ROLES = ["Mayor", "Council member", "Spokesperson", "Project manager", "Deputy mayor", "Councillor"]
EVENTS = [
    {
        "s1": [
            "The town of {town} opened a new public library on {day}.",
            "{town} celebrated the opening of its new public library on {day}.",
        ],
        "s2": [
            "The building cost {n1} million dollars and holds about {n2},000 books.",
            "It has room for {n2},000 books and was built for {n1} million dollars.",
        ],
        "sum": "{town} opened a new public library that cost {n1} million dollars.",
        "n1": (2, 9),
        "n2": (10, 60),
    },
    {
        "s1": [
            "The main bridge in {town} was closed on {day} after engineers found cracks in its supports.",
            "Engineers closed the main bridge in {town} on {day} because of cracks in its supports.",
        ],
        "s2": [
            "Repairs are expected to take {n1} weeks and cost {n2}0,000 dollars.",
            "About {n2},000 drivers use the bridge every day, and repairs could take {n1} weeks.",
        ],
        "sum": "The main bridge in {town} closed for about {n1} weeks of repairs after cracks were found.",
        "n1": (3, 14),
        "n2": (5, 40),
    },
    {
        "s1": [
            "The {town} school board approved a budget of {n1} million dollars on {day}.",
            "On {day}, the school board in {town} voted for a {n1} million dollar budget.",
        ],
        "s2": [
            "The money will pay for {n2} new teachers and repairs to three buildings.",
            "Most of the increase will fund {n2} new teaching posts next year.",
        ],
        "sum": "The {town} school board approved a {n1} million dollar budget that adds {n2} teachers.",
        "n1": (12, 70),
        "n2": (6, 40),
    },
    {
        "s1": [
            "More than {n2},000 people attended the annual food festival in {town} on {day}.",
            "The annual food festival in {town} drew over {n2},000 visitors on {day}.",
        ],
        "s2": [
            "Organisers said {n1} stalls sold dishes from around the region.",
            "There were {n1} food stalls and live music until midnight.",
        ],
        "sum": "More than {n2},000 people visited the annual food festival in {town}.",
        "n1": (30, 120),
        "n2": (3, 25),
    },
    {
        "s1": [
            "Officials in {town} issued a flood warning on {day} after {n1} hours of heavy rain.",
            "After {n1} hours of heavy rain, {town} officials issued a flood warning on {day}.",
        ],
        "s2": [
            "Residents near the river were told to move their cars to higher ground.",
            "About {n2}0 homes near the river were asked to prepare sandbags.",
        ],
        "sum": "{town} issued a flood warning after {n1} hours of heavy rain.",
        "n1": (10, 48),
        "n2": (4, 30),
    },
    {
        "s1": [
            "A new bus route linking {town} to the regional hospital started running on {day}.",
            "From {day}, a new bus route connects {town} with the regional hospital.",
        ],
        "s2": [
            "Buses will run every {n1} minutes from early morning until late evening.",
            "The service runs every {n1} minutes and stops at {n2} places on the way.",
        ],
        "sum": "A new bus route now links {town} with the regional hospital every {n1} minutes.",
        "n1": (10, 45),
        "n2": (5, 18),
    },
    {
        "s1": [
            "The hospital in {town} opened a new children's wing on {day}.",
            "A new children's wing opened at the {town} hospital on {day}.",
        ],
        "s2": [
            "The wing has {n1} beds and cost {n2} million dollars to build.",
            "It adds {n1} beds and two play rooms, and cost {n2} million dollars.",
        ],
        "sum": "The hospital in {town} opened a new children's wing with {n1} beds.",
        "n1": (18, 90),
        "n2": (4, 30),
    },
    {
        "s1": [
            "A power cut left {n2},000 homes in {town} without electricity on {day}.",
            "On {day}, about {n2},000 homes in {town} lost electricity in a power cut.",
        ],
        "s2": [
            "The electricity company said a storm had damaged {n1} power lines.",
            "Engineers blamed a storm that brought down {n1} power lines north of the town.",
        ],
        "sum": "A storm caused a power cut that hit {n2},000 homes in {town}.",
        "n1": (3, 25),
        "n2": (2, 30),
    },
    {
        "s1": [
            "{name} won the {town} city marathon on {day} in two hours and {n1} minutes.",
            "Runner {name} crossed the line first at the {town} marathon on {day}, in two hours and {n1} minutes.",
        ],
        "s2": [
            "About {n2},000 runners took part in the race this year.",
            "The race had {n2},000 entrants, a record for the event.",
        ],
        "sum": "{name} won the {town} marathon in two hours and {n1} minutes.",
        "n1": (8, 40),
        "n2": (2, 15),
    },
    {
        "s1": [
            "A furniture factory in {town} announced on {day} that it will hire {n1}0 new workers.",
            "On {day}, a furniture maker based in {town} said it plans to hire {n1}0 more staff.",
        ],
        "s2": [
            "The company said its orders had grown for {n2} years in a row.",
            "Managers said demand had risen every year for the past {n2} years.",
        ],
        "sum": "A furniture factory in {town} plans to hire {n1}0 new workers.",
        "n1": (3, 30),
        "n2": (3, 9),
    },
    {
        "s1": [
            "Volunteers in {town} collected {n1}0 bags of rubbish from the riverside park on {day}.",
            "On {day}, volunteers cleared {n1}0 bags of rubbish from the riverside park in {town}.",
        ],
        "s2": [
            "More than {n2}0 people joined the clean-up, including many school children.",
            "The clean-up drew {n2}0 helpers, and the council provided gloves and bags.",
        ],
        "sum": "Volunteers collected {n1}0 bags of rubbish from the riverside park in {town}.",
        "n1": (4, 40),
        "n2": (3, 20),
    },
    {
        "s1": [
            "The {town} museum opened an exhibition of old maps on {day}.",
            "An exhibition of old maps opened at the {town} museum on {day}.",
        ],
        "s2": [
            "The show includes {n1}0 maps, some of them more than {n2}00 years old.",
            "Visitors can see {n1}0 maps, the oldest drawn about {n2}00 years ago.",
        ],
        "sum": "The {town} museum opened an exhibition of {n1}0 old maps.",
        "n1": (3, 25),
        "n2": (2, 5),
    },
]
QUOTES = [
    "{role} {name} said the town was proud of the result.",
    "{role} {name} thanked the volunteers and staff who helped.",
    "{role} {name} said more details would be shared next week.",
    "{role} {name} told reporters that residents had asked for this for years.",
    "{role} {name} said the plan would be reviewed in the autumn.",
    "Local shop owner {name} said it had been the main topic in town all week.",
    "{role} {name} called it an important day for the community.",
    "{role} {name} said the costs were covered by a regional fund.",
    "A statement from {role} {name} said the work had been finished on time.",
    "{role} {name} asked residents to share their views at the town hall.",
]
CLOSINGS = [
    "Further information is available at the town hall.",
    "The council will discuss the matter again next month.",
    "Local radio will carry updates through the week.",
    "A public meeting on the topic is planned for the spring.",
]


def _summary_pair(rng: random.Random) -> tuple[str, ...]:
    event = EVENTS[rng.randrange(len(EVENTS))]
    slots = {
        "town": pick(rng, TOWNS),
        "day": pick(rng, DAYS),
        "name": pick(rng, NAMES),
        "role": pick(rng, ROLES),
        "n1": rng.randint(*event["n1"]),
        "n2": rng.randint(*event["n2"]),
    }
    sentences = [pick(rng, event["s1"]), pick(rng, event["s2"])]
    if rng.random() < 0.75:
        sentences.append(pick(rng, QUOTES))
    if rng.random() < 0.2:
        sentences.append(pick(rng, CLOSINGS))
    article = " ".join(s.format(**slots) for s in sentences)
    summary = event["sum"].format(**slots)
    return (article, summary)


def build_summaries() -> Dataset:
    slug = "demo_summaries_en"
    rng = random.Random(f"{SEED}-{slug}")
    pool = Pool(rng, 0.7)
    rows: dict[str, list[dict]] = {"train": [], "test": []}
    for split, n in (("train", 99), ("test", 25)):  # + 1 duplicate in train = 100
        for _ in range(n):
            article, summary = pool.draw(_summary_pair)
            rows[split].append({"article": article, "summary": summary, "_cls": ""})
    touched: set[int] = set()
    dup = copy_row(take(rng, rows["train"], "", touched))
    for split, n in (("train", 2), ("test", 1)):
        for _ in range(n):
            row = take(rng, [r for r in rows[split] if " and " in r["article"]], "", touched)
            row["article"] = row["article"].replace(" and ", " &amp; ", 1)
    for how in (1, 3):
        row = take(rng, rows["train"], "", touched)
        row["article"] = add_whitespace(row["article"], how)
    rows["train"].append(dup)
    files = []
    for split in ("train", "test"):
        out = shuffled(rng, rows[split])
        for i, row in enumerate(out, start=1):
            row["id"] = f"sum-{split}-{i:03d}"
        files.append(RawFile(split, f"{split}.jsonl", out))
    return Dataset(
        slug=slug,
        name="DemoNewsSummaries",
        language="en",
        task="News Summarization",
        task_type="generation",
        capability="summarization",
        task_definition="Write a one-sentence summary of a short English local-news paragraph.",
        labels=[],
        label_native={},
        fmt="jsonl",
        columns=["id", "article", "summary"],
        column_map={"text": "article", "target": "summary", "id": "id"},
        files=files,
        html_unescape=True,
        description=(
            "Short English local-news paragraphs (2-4 sentences) about fictional towns, each with a "
            "one-sentence reference summary (the target). JSON lines with id, article, summary. Official "
            "train and test files."
        ),
        dirt=[
            Dirt("duplicate_same_label", "train.jsonl", 1, detail="same article and summary twice"),
            Dirt("html_entity", "train.jsonl", 2, detail="`&amp;` in the article"),
            Dirt("html_entity", "test.jsonl", 1, detail="`&amp;` in the article"),
            Dirt("extra_whitespace", "train.jsonl", 2, detail="in the article"),
        ],
    )


BUILDERS = [build_sentiment, build_sarcasm, build_checkworthy, build_hate, build_stance, build_nli, build_summaries]


# --------------------------------------------------------------------------------------------
# Serialisation
# --------------------------------------------------------------------------------------------


def render_file(ds: Dataset, raw: RawFile) -> bytes:
    if ds.fmt == "jsonl":
        lines = [json.dumps({c: row[c] for c in ds.columns}, ensure_ascii=False) for row in raw.rows]
        return ("\n".join(lines) + "\n").encode("utf-8")
    if ds.quoting:
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=ds.delimiter or ",", lineterminator="\n")
        if ds.header:
            writer.writerow(ds.columns)
        for row in raw.rows:
            writer.writerow([row[c] for c in ds.columns])
        return buf.getvalue().encode("utf-8")
    sep = ds.delimiter or "\t"
    lines = [sep.join(ds.columns)] if ds.header else []
    for row in raw.rows:
        values = [str(row[c]) for c in ds.columns]
        for v in values:
            if sep in v or "\n" in v or "\r" in v:
                raise ValueError(f"{ds.slug}: value {v!r} cannot be written without quoting")
        lines.append(sep.join(values))
    return ("\n".join(lines) + "\n").encode("utf-8")


def dirt_note(ds: Dataset) -> str:
    parts = []
    for d in ds.dirt:
        what = d.kind.replace("_", " ")
        if d.value:
            what += f" {d.value!s}"
        parts.append(f"{what}: {d.count} in {d.where}")
    return f"{DEMO_NOTE} Planted dirt (see lensforge/demo/data/README.md): " + "; ".join(parts) + "."


def entry_dict(ds: Dataset) -> dict:
    sizes = {f.split: len(f.rows) for f in ds.files}
    ingest: dict = {
        "format": ds.fmt,
        "files": [{"split": f.split, "path": f.name, "expected_records": len(f.rows)} for f in ds.files],
    }
    if ds.fmt in ("csv", "tsv"):
        ingest["delimiter"] = ds.delimiter
        ingest["quoting"] = ds.quoting
        ingest["header"] = ds.header
        if not ds.header:
            ingest["column_names"] = list(ds.columns)
    ingest["columns"] = dict(ds.column_map)
    if ds.label_space:
        labels: dict = {"space": list(ds.label_space)}
        if ds.label_mapping:
            labels["mapping"] = dict(ds.label_mapping)
        ingest["labels"] = labels
    ingest["html_unescape"] = ds.html_unescape
    out: dict = {
        "name": ds.name,
        "language": ds.language,
        "version": "1",
        "task": ds.task,
        "task_type": ds.task_type,
        "capability": ds.capability,
        "task_definition": ds.task_definition,
    }
    if ds.labels:
        out["labels"] = list(ds.labels)
    if ds.label_native:
        out["label_native"] = ds.label_native
    out.update(
        {
            "license": LICENSE,
            "source": {"package": ds.slug},
            "has_official_split": ds.has_official_split,
            "published_sizes": sizes,
            "status": "selected",
            "collection": "demo",
            "notes": dirt_note(ds),
            "ingest": ingest,
        }
    )
    return out


_PLAIN_KEY = re.compile(r"[a-z_][a-z0-9_]*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none"}


def _yaml_scalar(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    # A JSON string is a valid YAML double-quoted scalar.
    return json.dumps(str(value), ensure_ascii=False)


def _yaml_key(key: str) -> str:
    if _PLAIN_KEY.fullmatch(key) and key not in _YAML_WORDS:
        return key
    return json.dumps(key, ensure_ascii=False)


def yaml_lines(obj: dict, indent: int = 0) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    for key, value in obj.items():
        k = _yaml_key(key)
        if isinstance(value, dict):
            if not value:
                lines.append(f"{pad}{k}: {{}}")
                continue
            lines.append(f"{pad}{k}:")
            lines.extend(yaml_lines(value, indent + 1))
        elif isinstance(value, list):
            if not value:
                lines.append(f"{pad}{k}: []")
                continue
            lines.append(f"{pad}{k}:")
            for item in value:
                if isinstance(item, dict):
                    sub = yaml_lines(item, 0)
                    lines.append(f"{pad}  - {sub[0]}")
                    lines.extend(f"{pad}    {line}" for line in sub[1:])
                else:
                    lines.append(f"{pad}  - {_yaml_scalar(item)}")
        else:
            lines.append(f"{pad}{k}: {_yaml_scalar(value)}")
    return lines


def render_entry(ds: Dataset) -> bytes:
    head = [
        "# Demo dataset entry (synthetic data written for lensforge).",
        "# Generated by tools/make_demo_corpus.py; edit the generator, not this file.",
    ]
    return ("\n".join(head + yaml_lines(entry_dict(ds))) + "\n").encode("utf-8")


def class_counts(ds: Dataset, raw: RawFile) -> str:
    if ds.task_type == "generation":
        return "-"
    counts = Counter(row["_cls"] for row in raw.rows)
    return ", ".join(f"{cls} {counts[cls]}" for cls in ds.labels)


def render_readme(datasets: list[Dataset]) -> bytes:
    out = [
        "# lensforge demo corpus",
        "",
        "**Synthetic demo data written for lensforge.** Every text here was generated by",
        "`tools/make_demo_corpus.py` from hand-written phrase lists: a bag of cue phrases per class,",
        "composed into varied sentence templates. All people, places, companies, claims and events are",
        "fictional. Nothing was copied from any real dataset, tweet or news source. Licence: CC0-1.0.",
        "",
        "The corpus exists so the whole pipeline (ingest, curate labels, instructions, snapshot, fine-tune",
        "a tiny model, evaluate) can run offline in minutes. Labels are easy to learn from the words on",
        "purpose, and classes are balanced. A little dirt is planted on purpose (table below) so curation",
        "has something to find. Do not edit the files by hand: change the generator and run",
        "`python tools/make_demo_corpus.py` (it rewrites these files and `lensforge/demo/registry/`",
        "byte for byte the same when nothing changed).",
        "",
        "## Datasets",
        "",
        "| Dataset (folder) | Language | Task | Task type | Format | File: rows (classes) |",
        "|---|---|---|---|---|---|",
    ]
    for ds in datasets:
        fmt = ds.fmt.upper()
        if ds.fmt in ("csv", "tsv"):
            fmt += ", quoted" if ds.quoting else ", no quoting"
            if not ds.header:
                fmt += ", no header"
        files = "; ".join(f"{f.name}: {len(f.rows)} ({class_counts(ds, f)})" for f in ds.files)
        out.append(f"| `{ds.slug}` | {ds.language} | {ds.task} | {ds.task_type} | {fmt} | {files} |")
    out += ["", "## What each dataset is", ""]
    for ds in datasets:
        total = sum(len(f.rows) for f in ds.files)
        out.append(f"- `{ds.slug}` ({ds.name}, {total} rows). {ds.description}")
        if ds.format_notes:
            out.append(f"  {ds.format_notes}")
    out += [
        "",
        "## Planted dirt",
        "",
        "Counts are exact; tests/test_demo_corpus.py recomputes each one from the files. Any kind not",
        "listed for a file occurs zero times there.",
        "",
        "| Dataset | Dirt | Value | File | Count | Detail |",
        "|---|---|---|---|---|---|",
    ]
    for ds in datasets:
        for d in ds.dirt:
            value = f"`{d.value}`" if d.value else ""
            out.append(f"| `{ds.slug}` | `{d.kind}` | {value} | {d.where} | {d.count} | {d.detail} |")
    out += ["", "What each kind counts:", ""]
    for kind, text in DIRT_KINDS.items():
        out.append(f"- `{kind}`: {text}.")
    out += [
        "",
        "Label spellings: `demo_checkworthy_en` publishes Check-worthy / Not-check-worthy and also uses",
        "check_worthy, checkworthy and not_check_worthy; `demo_hate_hi` publishes hate / offensive / none",
        "and a few rows use the Hindi names नफरत (hate) and अपमानजनक (offensive). Each entry's",
        "`ingest.labels.space` lists exactly the raw values that occur; curation unifies them.",
        "`demo_sarcasm_ar` writes its labels as TRUE / FALSE, decoded by `ingest.labels.mapping`.",
        "",
    ]
    return "\n".join(out).encode("utf-8")


def build_all() -> list[Dataset]:
    return [build() for build in BUILDERS]


def write_corpus(out_dir: Path) -> list[Path]:
    """Write data, README and registry entries under out_dir; returns the paths written."""
    datasets = build_all()
    written: list[Path] = []

    def put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)

    for ds in datasets:
        folder = out_dir / "data" / ds.slug
        names = {f.name for f in ds.files}
        if folder.is_dir():
            for old in sorted(folder.iterdir()):
                if old.is_file() and old.name not in names:
                    old.unlink()
        for raw in ds.files:
            put(folder / raw.name, render_file(ds, raw))
        put(out_dir / "registry" / ds.language / f"{ds.slug}.yaml", render_entry(ds))
    put(out_dir / "data" / "README.md", render_readme(datasets))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: lensforge/demo)")
    args = parser.parse_args(argv)
    written = write_corpus(args.out)
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files ({total / 1024:.1f} KiB) under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
