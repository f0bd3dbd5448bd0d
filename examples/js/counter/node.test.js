// The counter's modes, natively (no WebAssembly):
//
//     node --import ../../../guest-sdk/js/register.mjs --test
//
// The end-to-end conformance suite runs the same contract against the built
// component (guest-sdk/CONFORMANCE.md).

import test from "node:test";
import assert from "node:assert/strict";

import { Fatal, Retryable, goto, interrupt, sleep, update, waitSignal } from "savepoint";
import { call } from "./node.js";

test("count adds by (default 1), with trace when asked", async () => {
    assert.deepEqual(await call({}, {}), update({ count: 1 }));
    assert.deepEqual(await call({ node: "n3", config: { by: 5, trace: true } }, { count: 2 }), update({ count: 7, trace: ["n3"] }));
});

test("echo returns state.payload as it came", async () => {
    const payload = { text: "héllo ✓ 🎉", nested: { list: [1, [2, { deep: null }]] }, max: 2 ** 53 - 1 };
    assert.deepEqual(await call({ config: { mode: "echo" } }, { payload }), update({ count: 1, echo: payload }));
});

test("context reports the context", async () => {
    const outcome = await call({ thread: "r1", node: "c", step: 4, attempt: 2, wakes: 1, config: { mode: "context" } });
    assert.deepEqual(outcome.state.ctx, {
        thread: "r1",
        node: "c",
        step: 4,
        attempt: 2,
        config: { ...outcome.state.ctx.config, mode: "context" },
        resume: null,
        idempotency_key: "r1/4/c",
        interrupt_timed_out: false,
        wakes: 1,
        lease_epoch: 1,
    });
    assert.equal(outcome.state.ctx.config.by, 1);
});

test("goto takes config.goto", async () => {
    assert.deepEqual(await call({ config: { mode: "goto", goto: "end" } }), goto("end", { count: 1 }));
    await assert.rejects(call({ config: { mode: "goto" } }), Fatal);
});

test("interrupt asks, then counts with the answer", async () => {
    assert.deepEqual(await call({ config: { mode: "interrupt", question: "go?" } }), interrupt({ question: "go?" }));
    assert.deepEqual(await call({ config: { mode: "interrupt" }, resume: { ok: 1 } }), update({ count: 1, answer: { ok: 1 } }));
});

test("sleep sleeps once, then counts with the wakes", async () => {
    assert.deepEqual(await call({ config: { mode: "sleep", sleep_ms: 250 } }), sleep(250, { slept: true }));
    assert.deepEqual(await call({ config: { mode: "sleep" }, wakes: 1 }), update({ count: 1, wakes: 1 }));
});

test("retryable fails while attempt <= fail_attempts", async () => {
    const config = { mode: "retryable", fail_attempts: 2, message: "flaky" };
    await assert.rejects(call({ config, attempt: 2 }), (error) => error instanceof Retryable && error.message === "flaky");
    assert.deepEqual(await call({ config, attempt: 3 }), update({ count: 1 }));
    await assert.rejects(call({ config: { mode: "retryable" }, attempt: 99 }), Retryable);
});

test("fanout sends one item per element of state.items to config.goto", async () => {
    const config = { mode: "fanout", goto: "b" };
    assert.deepEqual(
        await call({ config }, { items: [1, { x: "é" }] }),
        update({ count: 1 }).send("b", { item: 1 }).send("b", { item: { x: "é" } }),
    );
    assert.deepEqual(await call({ config }), update({ count: 1 }));
    await assert.rejects(call({ config: { mode: "fanout" } }), new Fatal('mode "fanout" needs config.goto'));
    await assert.rejects(call({ config }, { items: 3 }), new Fatal("state.items must be an array, not number"));
});

test("item reports its item, send index and idempotency key", async () => {
    assert.deepEqual(
        await call({ config: { mode: "item" }, node: "b", step: 2, sendIndex: 1 }, { item: 7 }),
        update({ seen: [{ item: 7, send_index: 1, idempotency_key: "test/2/b/1" }] }),
    );
    assert.equal((await call({ config: { mode: "item" } })).state.seen[0].send_index, null);
});

test("signal waits, then counts with the signal (or the timeout)", async () => {
    assert.deepEqual(await call({ config: { mode: "signal" } }), waitSignal("go"));
    assert.deepEqual(
        await call({ config: { mode: "signal", signal: "ok", timeout_ms: 50 } }),
        waitSignal("ok", { timeoutMs: 50 }),
    );
    assert.deepEqual(
        await call({ config: { mode: "signal" }, signal: { name: "go", data: { n: 1 } } }),
        update({ count: 1, signal: { name: "go", data: { n: 1 } }, timed_out: false }),
    );
    assert.deepEqual(
        await call({ config: { mode: "signal" }, interruptTimedOut: true }),
        update({ count: 1, signal: null, timed_out: true }),
    );
});

test("fatal, panic and unknown modes", async (t) => {
    t.mock.method(console, "error", () => {});
    await assert.rejects(call({ config: { mode: "fatal", message: "no" } }), (error) => error instanceof Fatal && error.message === "no");
    await assert.rejects(call({ config: { mode: "panic", message: "kaboom" } }), (error) => !(error instanceof Fatal) && error.message === "kaboom");
    await assert.rejects(call({ config: { mode: "dance" } }), /unknown mode "dance"/);
});
