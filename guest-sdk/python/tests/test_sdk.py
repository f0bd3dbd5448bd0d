"""Tests of the SDK on plain CPython, including the glue to the WIT types
(against bindings from `componentize-py bindings` of wit/, or of the folder
SAVEPOINT_WIT names; made here when `build` has not made them from it):

    python3 -m unittest discover -s guest-sdk/python/tests
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from unittest import mock

SDK = Path(__file__).resolve().parents[1]
WIT = Path(os.environ.get("SAVEPOINT_WIT") or SDK.parents[1] / "wit").resolve()
sys.path.insert(0, str(SDK))


def _bindings() -> Path | None:
    made = SDK / ".bindings"
    stamp = made / ".stamp"
    if (made / "wit_world").is_dir() and stamp.is_file():
        newest = max((f.stat().st_mtime for f in WIT.glob("*.wit")), default=0)
        if stamp.read_text().strip() == str(WIT) and newest <= stamp.stat().st_mtime:
            return made
    if shutil.which("componentize-py") is None:
        return None
    out = Path(tempfile.mkdtemp(prefix="savepoint-bindings-"))
    subprocess.run(
        ["componentize-py", "-q", "-d", str(WIT), "-w", "node", "bindings", str(out)], check=True
    )
    return out


BINDINGS = _bindings()
if BINDINGS is not None:
    sys.path.insert(0, str(BINDINGS))

import savepoint  # noqa: E402
from savepoint import (  # noqa: E402
    Context,
    Fatal,
    Retryable,
    Send,
    Signal,
    fatal,
    interrupt,
    log,
    retry_on,
    retryable,
    sleep,
    update,
    wait_signal,
)
from savepoint import _core  # noqa: E402


class OutcomesTest(unittest.TestCase):
    def test_update(self):
        self.assertEqual(update({"a": 1}), savepoint.Update({"a": 1}, None))
        self.assertEqual(update(), savepoint.Update({}, None))
        self.assertEqual(update({"a": 1}, goto="end").goto, "end")
        with self.assertRaises(TypeError):
            update([1, 2])  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            update({}, goto=3)  # type: ignore[arg-type]

    def test_sleep_and_interrupt_durations(self):
        self.assertEqual(sleep(250), savepoint.Sleep(250, {}))
        self.assertEqual(
            sleep(datetime.timedelta(seconds=2), {"n": 1}), savepoint.Sleep(2000, {"n": 1})
        )
        self.assertEqual(
            interrupt({"q": "?"}, timeout_ms=datetime.timedelta(minutes=1)).timeout_ms, 60000
        )
        self.assertIsNone(interrupt("?").timeout_ms)
        for bad in (-1, 2**64, 1.5, True):
            with self.assertRaises((TypeError, ValueError)):
                sleep(bad)  # type: ignore[arg-type]

    def test_sends(self):
        base = update({"n": 2}, goto="ignored")
        fanned = base.send("work", {"item": 1}).send("other", {"item": [2]}).send("work")
        self.assertEqual(base.sends, (), "send returns a new update")
        self.assertEqual(
            fanned.sends,
            (Send("work", {"item": 1}), Send("other", {"item": [2]}), Send("work", {})),
        )
        self.assertEqual((fanned.state, fanned.goto), ({"n": 2}, "ignored"))
        with self.assertRaisesRegex(TypeError, "send's node must be a node name"):
            update().send("", {})
        with self.assertRaisesRegex(TypeError, "the input of the send to work must be a dict"):
            update().send("work", [1])  # type: ignore[arg-type]

    def test_wait_signal(self):
        self.assertEqual(wait_signal("go"), savepoint.WaitSignal("go", None))
        self.assertEqual(wait_signal("go", timeout_ms=1500).timeout_ms, 1500)
        self.assertEqual(
            wait_signal("go", timeout_ms=datetime.timedelta(hours=1)).timeout_ms, 3_600_000
        )
        for bad in ("", None, 3):
            with self.assertRaisesRegex(TypeError, "wait_signal's name"):
                wait_signal(bad)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            wait_signal("go", timeout_ms=-1)

    def test_failures_compare_and_raise(self):
        self.assertEqual(retryable("x"), Retryable("x"))
        self.assertNotEqual(retryable("x"), fatal("x"))
        self.assertEqual(str(fatal("boom")), "boom")
        self.assertEqual(Fatal().message, "fatal failure")
        self.assertEqual(repr(retryable("r")), "Retryable('r')")

    def test_retry_on(self):
        with self.assertRaisesRegex(Retryable, "^TimeoutError: slow$"):
            with retry_on(TimeoutError, ConnectionError):
                raise TimeoutError("slow")
        with self.assertRaises(KeyError):
            with retry_on(TimeoutError):
                raise KeyError("k")
        with self.assertRaises(Fatal):
            with retry_on(Exception):
                raise Fatal("stays fatal")

    def test_context_for_test(self):
        ctx = Context.for_test({"by": 2}, step=3, node="n")
        self.assertEqual(ctx.idempotency_key, "test/3/n")
        self.assertEqual((ctx.attempt, ctx.wakes, ctx.resumed), (1, 0, False))
        self.assertTrue(Context.for_test(resume={"ok": True}).resumed)
        self.assertEqual((ctx.signal, ctx.send_index), (None, None))
        sent = Context.for_test(step=2, node="w", send_index=4, signal=("go", [1]))
        self.assertEqual(sent.idempotency_key, "test/2/w/4")
        self.assertEqual(sent.signal, Signal("go", [1]))
        self.assertEqual(Context.for_test(signal=Signal("x")).signal.data, None)

    def test_log_capture(self):
        with log.capture() as lines:
            log.info("one")
            log.warn("two")
            log.trace(3)
        self.assertEqual(lines, [("info", "one"), ("warn", "two"), ("trace", "3")])


@dataclass
class Config:
    by: int = 1
    name: Optional[str] = None
    ratio: float = 0.5
    flag: bool = False


class ConfigTest(unittest.TestCase):
    def test_dict_by_default(self):
        self.assertEqual(_core.load_config(None, {"x": [1]}), {"x": [1]})
        with self.assertRaisesRegex(Fatal, "config must be a JSON object"):
            _core.load_config(None, [1])

    def test_dataclass(self):
        self.assertEqual(_core.load_config(Config, {}), Config())
        self.assertEqual(_core.load_config(Config, {"by": 3, "ratio": 2}), Config(by=3, ratio=2))
        with self.assertRaisesRegex(Fatal, "unknown key 'bye'"):
            _core.load_config(Config, {"bye": 3})
        with self.assertRaisesRegex(Fatal, "by is a string, not an integer"):
            _core.load_config(Config, {"by": "3"})
        with self.assertRaisesRegex(Fatal, "by is a boolean, not an integer"):
            _core.load_config(Config, {"by": True})
        self.assertEqual(_core.load_config(Config, {"name": None}).name, None)

    def test_schema(self):
        schema = _core._schema_of(Config)
        self.assertEqual(schema["properties"]["by"], {"type": "integer", "default": 1})
        self.assertEqual(
            schema["properties"]["name"], {"type": ["string", "null"], "default": None}
        )
        self.assertFalse(schema["additionalProperties"])


@unittest.skipIf(BINDINGS is None, "componentize-py is not installed (no bindings)")
class ExportTest(unittest.TestCase):
    """The WitWorld glue, called as the host would call it."""

    def setUp(self):
        from savepoint import _export
        from wit_world.imports import types

        self.types = types
        self.export = _export
        self.saved = _core._spec

    def tearDown(self):
        _core._spec = self.saved

    def register(self, fn, **kwargs):
        _core._spec = None
        return savepoint.node(name="t", version="1.2.3", **kwargs)(fn)

    def call(self, state=None, config=None, resume=None, **ctx):
        wctx = self.types.Context(
            thread="th",
            node="n",
            step=2,
            attempt=1,
            config=json.dumps(config or {}),
            resume=resume,
            interrupt_timed_out=False,
            wakes=0,
            idempotency_key="th/2/n",
            signal=None,
            send_index=None,
        )
        for key, value in ctx.items():
            setattr(wctx, key, value)
        return self.export.WitWorld().run(wctx, json.dumps(state or {}))

    def test_describe(self):
        def run(ctx, state):
            """Does a thing.

            More words."""

        self.register(run, config=Config)
        info = self.export.WitWorld().describe()
        self.assertEqual(
            (info.name, info.version, info.description), ("t", "1.2.3", "Does a thing.")
        )
        self.assertEqual(json.loads(info.config_schema)["properties"]["flag"]["type"], "boolean")

    def test_update_round_trips_json(self):
        payload = {
            "s": 'héllo ✓ 🎉 \u0000 "q"',
            "n": [1, -2.5, None, {"d": [True]}],
            "big": 2**53 - 1,
            "huge": 2**70,
        }
        self.register(lambda ctx, state: update({"echo": state["p"]}, goto="x"))
        out = self.call({"p": payload})
        self.assertIsInstance(out, self.types.Outcome_Update)
        self.assertEqual(json.loads(out.value.state), {"echo": payload})
        self.assertEqual(out.value.goto, "x")

    def test_context_fields(self):
        seen = {}
        self.register(lambda ctx, state: seen.setdefault("ctx", ctx) and {})
        self.call(config={"a": 1}, resume='{"ok":1}', wakes=3, interrupt_timed_out=True)
        ctx = seen["ctx"]
        self.assertEqual((ctx.thread, ctx.node, ctx.step, ctx.attempt), ("th", "n", 2, 1))
        self.assertEqual((ctx.config, ctx.resume, ctx.resumed), ({"a": 1}, {"ok": 1}, True))
        self.assertEqual(
            (ctx.wakes, ctx.interrupt_timed_out, ctx.idempotency_key), (3, True, "th/2/n")
        )

    def test_signal_and_send_index(self):
        seen = []
        self.register(lambda ctx, state: seen.append((ctx.signal, ctx.send_index, state)) or {})
        self.call()
        self.call(
            {"item": 3},
            signal=self.types.Signal("go", '{"by":2,"who":"Zoë"}'),
            send_index=7,
            idempotency_key="th/2/n/7",
        )
        self.call(signal=self.types.Signal("bare", "null"))
        self.assertEqual(
            seen,
            [
                (None, None, {}),
                (Signal("go", {"by": 2, "who": "Zoë"}), 7, {"item": 3}),
                (Signal("bare", None), None, {}),
            ],
        )

    def test_sends_become_the_update_sends(self):
        self.register(
            lambda ctx, state: update({"n": 1}).send("w", {"i": 0}).send("v", {"s": "é"})
        )
        out = self.call()
        self.assertIsInstance(out, self.types.Outcome_Update)
        self.assertEqual(
            [(s.node, s.input) for s in out.value.sends],
            [("w", '{"i":0}'), ("v", '{"s":"é"}')],
        )
        self.assertEqual((out.value.state, out.value.goto), ('{"n":1}', None))
        self.register(lambda ctx, state: {"plain": True})
        self.assertEqual(self.call().value.sends, [])
        self.register(lambda ctx, state: update().send("w", {"bad": {1}}))
        self.assert_failure(
            self.types.Failure_Fatal,
            "the input of the send to w is not JSON: Object of type set is not JSON serializable",
        )

    def test_wait_signal_becomes_the_outcome(self):
        self.register(lambda ctx, state: wait_signal("go", timeout_ms=250))
        out = self.call()
        self.assertIsInstance(out, self.types.Outcome_WaitSignal)
        self.assertEqual((out.value.name, out.value.timeout_ms), ("go", 250))
        self.register(lambda ctx, state: wait_signal("forever"))
        self.assertIsNone(self.call().value.timeout_ms)

    def test_null_resume_is_resumed(self):
        seen = {}
        self.register(lambda ctx, state: seen.setdefault("r", (ctx.resume, ctx.resumed)) and {})
        self.call(resume="null")
        self.assertEqual(seen["r"], (None, True))

    def test_plain_dict_is_an_update(self):
        self.register(lambda ctx, state: {"a": 1})
        out = self.call()
        self.assertEqual((out.value.state, out.value.goto), ('{"a":1}', None))

    def test_interrupt_and_sleep(self):
        self.register(lambda ctx, state: interrupt({"q": "?"}, timeout_ms=5))
        out = self.call()
        self.assertIsInstance(out, self.types.Outcome_Interrupt)
        self.assertEqual((json.loads(out.value.payload), out.value.timeout_ms), ({"q": "?"}, 5))
        self.register(lambda ctx, state: sleep(100, {"slept": True}))
        out = self.call()
        self.assertIsInstance(out, self.types.Outcome_Sleep)
        self.assertEqual((out.value.duration_ms, out.value.state), (100, '{"slept":true}'))

    def assert_failure(self, kind, message):
        from componentize_py_types import Err

        with self.assertRaises(Err) as caught:
            self.call()
        self.assertIsInstance(caught.exception.value, kind)
        self.assertEqual(caught.exception.value.value, message)

    def test_failures_raised_or_returned(self):
        types = self.types

        def raises(ctx, state):
            raise Retryable("later")

        self.register(raises)
        self.assert_failure(types.Failure_Retryable, "later")
        self.register(lambda ctx, state: fatal("never"))
        self.assert_failure(types.Failure_Fatal, "never")
        self.register(lambda ctx, state: retryable("again"))
        self.assert_failure(types.Failure_Retryable, "again")

    def test_bad_results_are_fatal(self):
        types = self.types
        self.register(lambda ctx, state: None)
        self.assert_failure(
            types.Failure_Fatal, "the node returned None; return update({}) to change nothing"
        )
        self.register(lambda ctx, state: [1])
        self.assert_failure(
            types.Failure_Fatal,
            "the node returned a list; return update(...), "
            "interrupt(...), sleep(...), wait_signal(...), a dict (an update), or a failure",
        )
        self.register(lambda ctx, state: {"s": {1, 2}})
        self.assert_failure(
            types.Failure_Fatal,
            "the update is not JSON: Object of type set is not JSON serializable",
        )
        self.register(lambda ctx, state: {"x": float("nan")})
        self.assert_failure(
            types.Failure_Fatal,
            "the update is not JSON: Out of range float values are not JSON compliant",
        )

    def test_typed_config_errors_are_fatal(self):
        self.register(lambda ctx, state: {"by": ctx.config.by}, config=Config)
        self.assertEqual(self.call(config={"by": 4}).value.state, '{"by":4}')
        with self.assertRaises(Exception) as caught:
            self.call(config={"by": "x"})
        self.assertEqual(caught.exception.value.value, "config: by is a string, not an integer")

    def test_prepare_runs_the_warmup(self):
        seen = []

        def run(ctx, state):
            seen.append((ctx.config, state))
            log.info("dropped")
            if state.get("fail"):
                raise Retryable("ignored")
            return update({"ok": True})

        self.register(run, config=Config, warmup=[{"a": 1}, ({"by": 2}, {"fail": True})])
        with log.capture() as lines:
            _core.prepare("app")
        self.assertEqual(seen, [(Config(), {"a": 1}), (Config(by=2), {"fail": True})])
        self.assertEqual(lines, [])

        def crashes(ctx, state):
            raise KeyError("warm-up bug")

        self.register(crashes, warmup=[{}])
        with self.assertRaises(KeyError):
            _core.prepare("app")
        _core._spec = None
        with self.assertRaisesRegex(RuntimeError, "app defines no node"):
            _core.prepare("app")

    def test_exception_propagates_off_wasi(self):
        def crashes(ctx, state):
            raise ValueError("plain")

        self.register(crashes)
        with self.assertRaisesRegex(ValueError, "plain"):
            self.call()

    def test_exception_prints_traceback_and_aborts(self):
        def crashes(ctx, state):
            try:
                {}["missing"]
            except KeyError as error:
                raise RuntimeError("boom") from error

        self.register(crashes)
        with (
            mock.patch.object(os, "abort", side_effect=SystemExit("aborted")),
            mock.patch.object(sys, "platform", "wasi"),
            mock.patch.object(sys, "stderr", new_callable=_Text) as stderr,
        ):
            with self.assertRaisesRegex(SystemExit, "aborted"):
                self.call()
        text = stderr.getvalue()
        self.assertIn("KeyError: 'missing'", text)
        self.assertIn("direct cause", text)
        self.assertIn(", in crashes\n", text)
        self.assertNotIn("_export.py", text)
        self.assertTrue(text.endswith("RuntimeError: boom\n"), text)


class _Text:
    def __init__(self):
        self.parts = []

    def write(self, text):
        self.parts.append(text)

    def flush(self):
        pass

    def getvalue(self):
        return "".join(self.parts)


if __name__ == "__main__":
    unittest.main()
