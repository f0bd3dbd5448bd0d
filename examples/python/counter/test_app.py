"""Unit tests of the counter on plain CPython (no WebAssembly needed):

python3 -m unittest discover -s examples/python/counter
"""

import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "guest-sdk" / "python"))

from app import run  # noqa: E402

from savepoint import (  # noqa: E402
    Context,
    fatal,
    interrupt,
    log,
    retryable,
    sleep,
    update,
    wait_signal,
)


def call(config=None, state=None, **ctx):
    return run(Context.for_test(config or {}, **ctx), state or {})


class CounterTest(unittest.TestCase):
    def test_counts_by_one_from_zero(self):
        self.assertEqual(call(), update({"count": 1}))

    def test_by_and_trace(self):
        self.assertEqual(
            call({"by": 5, "trace": True}, {"count": 2}, node="n1"),
            update({"count": 7, "trace": ["n1"]}),
        )

    def test_logs_one_info_line(self):
        with log.capture() as lines:
            call({"mode": "echo"}, attempt=2, node="n3")
        self.assertEqual(lines, [("info", "n3: echo call, attempt 2")])

    def test_echo(self):
        payload = {"s": "héllo ✓ 🎉", "n": [1, 2.5, None, {"deep": [True]}], "big": 2**53 - 1}
        self.assertEqual(
            call({"mode": "echo"}, {"payload": payload}),
            update({"count": 1, "echo": payload}),
        )

    def test_context(self):
        result = call({"mode": "context"}, thread="t", node="n", step=4, attempt=2, wakes=1)
        self.assertEqual(
            result.state["ctx"],
            {
                "thread": "t",
                "node": "n",
                "step": 4,
                "attempt": 2,
                "config": {"mode": "context"},
                "resume": None,
                "idempotency_key": "t/4/n",
                "interrupt_timed_out": False,
                "wakes": 1,
                "lease_epoch": 1,
            },
        )

    def test_goto(self):
        self.assertEqual(call({"mode": "goto", "goto": "b"}), update({"count": 1}, goto="b"))

    def test_interrupt_asks_then_counts(self):
        self.assertEqual(call({"mode": "interrupt"}), interrupt({"question": "continue?"}))
        self.assertEqual(
            call({"mode": "interrupt"}, resume={"ok": 1}),
            update({"count": 1, "answer": {"ok": 1}}),
        )
        # A JSON null answer is an answer too.
        self.assertEqual(
            call({"mode": "interrupt"}, resume=None, resumed=True),
            update({"count": 1, "answer": None}),
        )

    def test_sleep_then_count(self):
        self.assertEqual(call({"mode": "sleep", "sleep_ms": 5}), sleep(5, {"slept": True}))
        self.assertEqual(call({"mode": "sleep"}, wakes=2), update({"count": 1, "wakes": 2}))

    def test_retryable_until_fail_attempts(self):
        config = {"mode": "retryable", "fail_attempts": 2, "message": "flaky"}
        self.assertEqual(call(config, attempt=2), retryable("flaky"))
        self.assertEqual(call(config, attempt=3), update({"count": 1}))
        self.assertEqual(call({"mode": "retryable"}, attempt=99), retryable("counter failed"))

    def test_fatal_and_unknown_mode(self):
        self.assertEqual(call({"mode": "fatal"}), fatal("counter failed"))
        self.assertEqual(call({"mode": "nope"}), fatal('unknown mode "nope"'))

    def test_fanout_sends_one_item_per_element(self):
        config = {"mode": "fanout", "goto": "b"}
        self.assertEqual(
            call(config, {"items": [1, {"x": "é"}]}),
            update({"count": 1}).send("b", {"item": 1}).send("b", {"item": {"x": "é"}}),
        )
        self.assertEqual(call(config), update({"count": 1}))
        self.assertEqual(call({"mode": "fanout"}), fatal('mode "fanout" needs config.goto'))
        self.assertEqual(
            call(config, {"items": 3}), fatal("state.items must be a list, not int")
        )

    def test_item_reports_its_send(self):
        self.assertEqual(
            call({"mode": "item"}, {"item": 7}, step=2, node="b", send_index=1),
            update({"seen": [{"item": 7, "send_index": 1, "idempotency_key": "test/2/b/1"}]}),
        )
        self.assertEqual(
            call({"mode": "item"}).state["seen"][0]["send_index"], None, "not a send"
        )

    def test_signal_waits_then_counts(self):
        self.assertEqual(call({"mode": "signal"}), wait_signal("go"))
        self.assertEqual(
            call({"mode": "signal", "signal": "ok", "timeout_ms": 50}),
            wait_signal("ok", timeout_ms=50),
        )
        self.assertEqual(
            call({"mode": "signal"}, signal=("go", {"n": 1})),
            update({"count": 1, "signal": {"name": "go", "data": {"n": 1}}, "timed_out": False}),
        )
        self.assertEqual(
            call({"mode": "signal"}, interrupt_timed_out=True),
            update({"count": 1, "signal": None, "timed_out": True}),
        )

    def test_panic_raises(self):
        with self.assertRaisesRegex(RuntimeError, "^bang$"):
            call({"mode": "panic", "message": "bang"})


if __name__ == "__main__":
    unittest.main()
