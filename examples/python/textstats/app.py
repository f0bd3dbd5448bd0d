"""`textstats`: statistics of the state's `text`, with the standard library.

Reads `state.text` (a string) and writes, under `state.<into>`:

    {"characters": 1234, "words": 210, "unique_words": 120, "sentences": 12,
     "paragraphs": 3, "avg_word_length": 4.7, "avg_sentence_words": 17.5,
     "reading_time_s": 63, "reading_time": "1 min 3 s",
     "top_words": [{"word": "savepoint", "count": 7}, ...]}

Config (every key optional):

| key | default | meaning |
|---|---|---|
| `top` | 5 | how many of the most frequent words to list (0: none) |
| `words_per_minute` | 230 | reading speed for `reading_time_s` |
| `min_length` | 3 | shortest word counted in `top_words` |
| `stopwords` | true | leave common English words (the, and, ...) out of `top_words` |
| `into` | "stats" | the state key to write |

A missing or non-string `text` is a fatal failure. Words are runs of
letters and digits (any script; "don't" is one word), compared case-folded;
sentences end with `.`, `!`, `?` or `…`; paragraphs are separated by blank
lines.

Build: `guest-sdk/python/build examples/python/textstats plugins/textstats.wasm`.
"""

import math
import re
from collections import Counter
from dataclasses import dataclass

from savepoint import Context, Fatal, Result, log, node, update

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
SENTENCE_END = re.compile(r"[.!?…]+(?=[\s\"'”’)\]]|$)")
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")

STOPWORDS = frozenset(
    """a about after all also an and any are as at be been but by can could did do does
    for from had has have he her him his how i if in into is it its just me more most my
    no not of on one or our out over she so some such than that the their them then there
    these they this those to up us was we were what when which who will with would you
    your""".split()
)


@dataclass
class Config:
    top: int = 5
    words_per_minute: int = 230
    min_length: int = 3
    stopwords: bool = True
    into: str = "stats"

    def __post_init__(self) -> None:
        if self.top < 0:
            raise ValueError(f"top must be 0 or more, not {self.top}")
        if self.words_per_minute <= 0:
            raise ValueError(f"words_per_minute must be positive, not {self.words_per_minute}")


@node(
    name="textstats",
    version="0.1.0",
    description="Counts the words, sentences and paragraphs of `text`, lists its top "
    "words and estimates its reading time.",
    config=Config,
    # The build runs the node once on this state, so that whatever the
    # standard library imports lazily on the way is in the component.
    warmup=[{"text": "A warm-up text. It has two sentences!\n\nAnd a paragraph."}],
)
def run(ctx: Context[Config], state: dict) -> Result:
    text = state.get("text")
    if text is None:
        raise Fatal('state.text is missing: give the run a text, e.g. --input \'{"text": "..."}\'')
    if not isinstance(text, str):
        raise Fatal(f"state.text must be a string, not {type(text).__name__}")
    stats = text_stats(text, ctx.config)
    log.info(
        f"{ctx.node}: {stats['words']} words, {stats['sentences']} sentences, "
        f"{stats['reading_time']} to read"
    )
    return update({ctx.config.into: stats})


def text_stats(text: str, config: Config) -> dict:
    """The statistics of `text` (a pure function: the unit tests call it)."""
    words = [w.casefold() for w in WORD.findall(text)]
    sentences = [s for s in SENTENCE_END.split(text) if WORD.search(s)]
    paragraphs = [p for p in PARAGRAPH_BREAK.split(text) if WORD.search(p)]
    seconds = math.ceil(len(words) * 60 / config.words_per_minute)
    counted = Counter(
        w
        for w in words
        if len(w) >= config.min_length and not (config.stopwords and w in STOPWORDS)
    )
    # Most frequent first; ties in order of first appearance (Counter keeps it).
    top = counted.most_common(config.top) if config.top else []
    return {
        "characters": len(text),
        "words": len(words),
        "unique_words": len(set(words)),
        "sentences": len(sentences),
        "paragraphs": len(paragraphs),
        "avg_word_length": round(sum(map(len, words)) / len(words), 2) if words else 0,
        "avg_sentence_words": round(len(words) / len(sentences), 2) if sentences else 0,
        "reading_time_s": seconds,
        "reading_time": _duration(seconds),
        "top_words": [{"word": w, "count": n} for w, n in top],
    }


def _duration(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    if minutes and seconds:
        return f"{minutes} min {seconds} s"
    return f"{minutes} min" if minutes else f"{seconds} s"
