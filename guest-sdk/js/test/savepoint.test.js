// The SDK's own tests, natively under Node.js: what `run` hands to the
// componentize-js bindings (the WIT shapes), and the idiomatic API.
//
//     cd guest-sdk/js && npm test

import test from "node:test";
import assert from "node:assert/strict";

import {
    Fatal,
    Outcome,
    Retryable,
    __connectHost,
    goto,
    interrupt,
    node,
    sleep,
    testContext,
    update,
    waitSignal,
} from "../savepoint.js";

/** The WIT `context` record as the bindings pass it. */
function witContext(fields = {}) {
    return {
        thread: "t-1",
        node: "n1",
        step: 3n,
        attempt: 2,
        config: "{}",
        resume: undefined,
        interruptTimedOut: false,
        wakes: 0,
        idempotencyKey: "t-1/3/n1",
        signal: undefined,
        sendIndex: undefined,
        ...fields,
    };
}

const info = { name: "demo", version: "1.2.3", description: "A demo." };

test("describe returns the node info, with the config schema as JSON", () => {
    const plain = node(info, () => {});
    assert.deepEqual({ ...plain.describe() }, { ...info, configSchema: undefined });
    const schema = node({ ...info, configSchema: { type: "object" } }, () => {});
    assert.equal(schema.describe().configSchema, '{"type":"object"}');
});

test("node() rejects a bad definition when the module loads", () => {
    assert.throws(() => node({ name: "x" }, () => {}), /info.version must be a string/);
    assert.throws(() => node(info, "not a function"), /handler must be a function/);
    assert.throws(() => node({ ...info, defaults: [] }, () => {}), /defaults must be a plain object/);
});

test("the handler sees an idiomatic context and the parsed state", () => {
    let seen;
    const { run } = node({ ...info, defaults: { by: 1, mode: "count" } }, (ctx, state) => {
        seen = { ctx, state };
    });
    // The host's lease-epoch import gives a u64: a BigInt.
    __connectHost(null, () => 9n);
    try {
        run(witContext({ config: '{"by":5}', resume: '{"ok":1}', interruptTimedOut: true, wakes: 4 }), '{"count":7}');
    } finally {
        __connectHost(null);
    }
    assert.deepEqual(seen.state, { count: 7 });
    assert.deepEqual({ ...seen.ctx }, {
        thread: "t-1",
        node: "n1",
        step: 3,
        attempt: 2,
        config: { by: 5, mode: "count" },
        resume: { ok: 1 },
        interruptTimedOut: true,
        wakes: 4,
        idempotencyKey: "t-1/3/n1",
        leaseEpoch: 9,
        signal: undefined,
        sendIndex: undefined,
    });
});

test("signal and sendIndex: parsed from the WIT context, undefined when none", () => {
    const seen = [];
    const { run } = node(info, (ctx, state) => {
        seen.push([ctx.signal, ctx.sendIndex, state]);
    });
    run(witContext(), "{}");
    run(witContext({ signal: { name: "go", data: '{"by":2,"who":"Zoë"}' }, sendIndex: 0 }), '{"item":3}');
    run(witContext({ signal: { name: "bare", data: "null" } }), "{}");
    // A savepoint:node@0.1.0 context has neither field.
    const { signal: _, sendIndex: __, ...old } = witContext();
    run(old, "{}");
    assert.deepEqual(seen, [
        [undefined, undefined, {}],
        [{ name: "go", data: { by: 2, who: "Zoë" } }, 0, { item: 3 }],
        [{ name: "bare", data: null }, undefined, {}],
        [undefined, undefined, {}],
    ]);
    assert.ok(Object.isFrozen(seen[1][0]));
});

test("resume: undefined when none, the JSON value (even null) when given", () => {
    const resumes = [];
    const { run } = node(info, (ctx) => {
        resumes.push(ctx.resume);
    });
    run(witContext(), "{}");
    run(witContext({ resume: "null" }), "{}");
    run(witContext({ resume: "[1]" }), "{}");
    assert.deepEqual(resumes, [undefined, null, [1]]);
});

test("outcomes become the WIT variants", () => {
    const cases = [
        [update({ a: 1 }), { tag: "update", val: { state: '{"a":1}', goto: undefined, sends: [] } }],
        [update({ a: 1 }, { goto: "next" }), { tag: "update", val: { state: '{"a":1}', goto: "next", sends: [] } }],
        [goto("end"), { tag: "update", val: { state: "{}", goto: "end", sends: [] } }],
        [{ plain: true }, { tag: "update", val: { state: '{"plain":true}', goto: undefined, sends: [] } }],
        [undefined, { tag: "update", val: { state: "{}", goto: undefined, sends: [] } }],
        [interrupt({ q: "?" }), { tag: "interrupt", val: { payload: '{"q":"?"}', timeoutMs: undefined } }],
        [interrupt("sure?", { timeoutMs: 1500 }), { tag: "interrupt", val: { payload: '"sure?"', timeoutMs: 1500 } }],
        [sleep(250, { polls: 1 }), { tag: "sleep", val: { durationMs: 250, state: '{"polls":1}' } }],
        [sleep(0.5), { tag: "sleep", val: { durationMs: 1, state: "{}" } }],
        [
            update({ n: 2 }).send("work", { item: 1 }).send("other", { s: "é" }).send("work"),
            {
                tag: "update",
                val: {
                    state: '{"n":2}',
                    goto: undefined,
                    sends: [
                        { node: "work", input: '{"item":1}' },
                        { node: "other", input: '{"s":"é"}' },
                        { node: "work", input: "{}" },
                    ],
                },
            },
        ],
        [waitSignal("go"), { tag: "wait-signal", val: { name: "go", timeoutMs: undefined } }],
        [waitSignal("go", { timeoutMs: 1500 }), { tag: "wait-signal", val: { name: "go", timeoutMs: 1500 } }],
    ];
    for (const [returned, wit] of cases) {
        const { run } = node(info, () => returned);
        assert.deepEqual(run(witContext(), "{}"), { tag: "ok", val: wit });
    }
});

test("send() returns a new update and leaves the first as it was", () => {
    const base = update({ n: 1 }, { goto: "next" });
    const fanned = base.send("work", { i: 0 }).send("work", { i: 1 });
    assert.deepEqual(base.sends, []);
    assert.deepEqual(fanned.sends, [
        { node: "work", input: { i: 0 } },
        { node: "work", input: { i: 1 } },
    ]);
    assert.equal(fanned.goto, "next");
    assert.ok(fanned instanceof Outcome && Object.isFrozen(fanned.sends));
});

test("Retryable and Fatal become the failure variants; cause is appended", () => {
    const failures = [
        [new Retryable("rate limited"), { tag: "retryable", val: "rate limited" }],
        [new Fatal("bad input"), { tag: "fatal", val: "bad input" }],
        [new Fatal("fetch failed", { cause: new TypeError("no network") }), { tag: "fatal", val: "fetch failed: TypeError: no network" }],
    ];
    for (const [error, wit] of failures) {
        const { run } = node(info, () => {
            throw error;
        });
        assert.deepEqual(run(witContext(), "{}"), { tag: "err", val: wit });
    }
});

test("async handlers resolve to the same shapes", async () => {
    const ok = node(info, async () => update({ done: true }));
    assert.deepEqual(await ok.run(witContext(), "{}"), {
        tag: "ok",
        val: { tag: "update", val: { state: '{"done":true}', goto: undefined, sends: [] } },
    });
    const failing = node(info, async () => {
        throw new Retryable("later");
    });
    assert.deepEqual(await failing.run(witContext(), "{}"), { tag: "err", val: { tag: "retryable", val: "later" } });
});

/** The trap value: an `err` whose `tag` throws the summary when read. */
function assertTraps(result, summary) {
    assert.equal(result.tag, "err");
    assert.throws(
        () => result.val.tag,
        (thrown) => thrown === summary,
    );
}

test("any other exception traps (its tag throws), after writing it to stderr", async (t) => {
    const errors = [];
    t.mock.method(console, "error", (text) => errors.push(text));
    const sync = node(info, () => {
        throw new Error("boom");
    });
    assertTraps(sync.run(witContext(), "{}"), "uncaught Error: boom");
    const rejected = node(info, async () => {
        throw new RangeError("late boom");
    });
    assertTraps(await rejected.run(witContext(), "{}"), "uncaught RangeError: late boom");
    const stringly = node(info, () => {
        throw "just a string";
    });
    assertTraps(stringly.run(witContext(), "{}"), "uncaught exception: just a string");
    assert.match(errors[0], /^uncaught Error: boom\n {4}/);
    assert.equal(errors.length, 3);
});

test("a result the host cannot take traps with a message that says why", (t) => {
    t.mock.method(console, "error", () => {});
    const cases = [
        [() => 42, /the node returned number 42/],
        [() => [1, 2], /the node returned an array/],
        [() => update([1]), /update\(\) takes a state update that is a plain object/],
        [() => sleep(-1), /sleep\(\) must be a number of milliseconds >= 0/],
        [() => update({ big: 1n }), /the update cannot be written as JSON/],
        [() => goto(""), /goto takes a route name/],
        [() => update().send("", {}), /send\(\) takes a node name, not string /],
        [() => update().send("w", [1]), /send\(\) to w takes a state update that is a plain object, not an array/],
        [() => update().send("w", { big: 2n }), /the input of the send to w cannot be written as JSON/],
        [() => sleep(5).send("w", {}), /send\(\) adds a send to an update, not to a sleep outcome/],
        [() => waitSignal(""), /waitSignal\(\) takes a signal name/],
        [() => waitSignal("go", { timeoutMs: -1 }), /waitSignal timeoutMs must be a number of milliseconds >= 0/],
    ];
    for (const [handler, message] of cases) {
        const result = node(info, handler).run(witContext(), "{}");
        assert.throws(() => result.val.tag, (thrown) => message.test(thrown));
    }
});

test("call() runs the handler natively with a test context and the defaults", async () => {
    const counter = node({ ...info, defaults: { by: 1 } }, (ctx, state) => update({ count: (state.count ?? 0) + ctx.config.by }));
    assert.deepEqual(await counter.call({}, { count: 1 }), update({ count: 2 }));
    assert.deepEqual(await counter.call({ config: { by: 10 } }), update({ count: 10 }));
    assert.ok((await counter.call()) instanceof Outcome);
    const failing = node(info, () => {
        throw new Fatal("nope");
    });
    await assert.rejects(failing.call(), Fatal);
});

test("testContext: a first call's context", () => {
    assert.deepEqual({ ...testContext() }, {
        thread: "test",
        node: "node",
        step: 1,
        attempt: 1,
        config: {},
        resume: undefined,
        interruptTimedOut: false,
        wakes: 0,
        idempotencyKey: "test/1/node",
        leaseEpoch: 1,
        signal: undefined,
        sendIndex: undefined,
    });
    assert.equal(testContext({ thread: "x", step: 4, node: "n" }).idempotencyKey, "x/4/n");
    assert.equal(testContext({ thread: "x", step: 4, node: "n", sendIndex: 2 }).idempotencyKey, "x/4/n/2");
});
