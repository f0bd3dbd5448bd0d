"""Unit tests of textstats on plain CPython:

python3 -m unittest discover -s examples/python/textstats
"""

import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "guest-sdk" / "python"))

from app import Config, run, text_stats  # noqa: E402

from savepoint import Context, Fatal  # noqa: E402

TEXT = """Savepoint runs workflows. Each node is a component! Does it work? Yes.

Durable workflows survive crashes; workflows resume from checkpoints…
Don't panic: the workflow's state is saved."""


class TextStatsTest(unittest.TestCase):
    def test_counts(self):
        stats = text_stats(TEXT, Config(top=3))
        self.assertEqual(stats["words"], 27)
        self.assertEqual(stats["sentences"], 6)
        self.assertEqual(stats["paragraphs"], 2)
        self.assertEqual(stats["characters"], len(TEXT))
        self.assertEqual(
            stats["top_words"],
            [
                {"word": "workflows", "count": 3},
                {"word": "savepoint", "count": 1},
                {"word": "runs", "count": 1},
            ],
        )
        self.assertEqual(stats["reading_time_s"], 8)
        self.assertEqual(stats["reading_time"], "8 s")

    def test_unicode_words_and_no_stopwords(self):
        stats = text_stats(
            "Ça va? Ça va très bien, merci. Привет мир!", Config(stopwords=False, min_length=1)
        )
        self.assertEqual(stats["words"], 9)
        self.assertEqual(stats["sentences"], 3)
        self.assertEqual(
            stats["top_words"][:2], [{"word": "ça", "count": 2}, {"word": "va", "count": 2}]
        )

    def test_empty_text(self):
        stats = text_stats("", Config())
        self.assertEqual((stats["words"], stats["sentences"], stats["avg_word_length"]), (0, 0, 0))
        self.assertEqual(stats["reading_time"], "0 s")

    def test_long_reading_time(self):
        self.assertEqual(text_stats("word " * 500, Config())["reading_time"], "2 min 11 s")

    def test_run_writes_into(self):
        result = run(Context.for_test(Config(into="s", top=0)), {"text": "One. Two."})
        self.assertEqual(result.state["s"]["sentences"], 2)
        self.assertEqual(result.state["s"]["top_words"], [])

    def test_missing_text_is_fatal(self):
        with self.assertRaisesRegex(Fatal, "state.text is missing"):
            run(Context.for_test(Config()), {})
        with self.assertRaisesRegex(Fatal, "must be a string"):
            run(Context.for_test(Config()), {"text": 3})


if __name__ == "__main__":
    unittest.main()
