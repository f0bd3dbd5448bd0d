"""Unit tests on plain CPython (no WebAssembly): `python3 -m unittest`."""

import sys
import unittest

sys.path.insert(0, "@SDK@/python")

from app import run  # noqa: E402

from savepoint import Context, Fatal, update  # noqa: E402


class AppTest(unittest.TestCase):
    def test_greets(self):
        self.assertEqual(
            run(Context.for_test(), {"name": "Ada"}), update({"greeting": "Hello, Ada!"})
        )

    def test_greeting_from_config(self):
        result = run(Context.for_test({"greeting": "Hi"}), {"name": "Ada"})
        self.assertEqual(result.state["greeting"], "Hi, Ada!")

    def test_needs_a_name(self):
        with self.assertRaises(Fatal):
            run(Context.for_test(), {})


if __name__ == "__main__":
    unittest.main()
