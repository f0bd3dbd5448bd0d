"""Unit tests on plain CPython (no WebAssembly): `python3 -m unittest`."""

import os
import sys
import unittest

# The vendored SDK (vendor/savepoint/README.md).
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor/savepoint/guest-sdk/python")
)

from app import Config, run  # noqa: E402

from savepoint import Context, Fatal, update  # noqa: E402


class AppTest(unittest.TestCase):
    def test_greets(self):
        self.assertEqual(
            run(Context.for_test(Config()), {"name": "Ada"}), update({"message": "Hello, Ada!"})
        )

    def test_greeting_from_config(self):
        result = run(Context.for_test(Config(greeting="Hi")), {"name": "Ada"})
        self.assertEqual(result.state["message"], "Hi, Ada!")

    def test_greets_the_world_without_a_name(self):
        self.assertEqual(run(Context.for_test(Config()), {}), update({"message": "Hello, world!"}))

    def test_a_name_that_is_not_a_string_is_fatal(self):
        with self.assertRaisesRegex(Fatal, "state.name must be a string"):
            run(Context.for_test(Config()), {"name": 5})


if __name__ == "__main__":
    unittest.main()
