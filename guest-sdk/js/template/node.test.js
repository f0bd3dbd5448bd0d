// Unit tests of the handler, natively (no WebAssembly): ./test.sh

import test from "node:test";
import assert from "node:assert/strict";

import { Fatal, update } from "savepoint";
import { call } from "./node.js";

test("greets state.name", async () => {
    assert.deepEqual(await call({}, { name: "Ada" }), update({ greeting: "Hello, Ada!" }));
    assert.deepEqual(await call({ config: { greeting: "Hi" } }, { name: "Ada" }), update({ greeting: "Hi, Ada!" }));
});

test("a missing name is a fatal failure", async () => {
    await assert.rejects(call({}, {}), Fatal);
});
