// Unit tests of the handler, natively (no WebAssembly): ./test.sh

import test from "node:test";
import assert from "node:assert/strict";

import { Fatal, update } from "savepoint";
import { call } from "./node.js";

test("greets state.name", async () => {
    assert.deepEqual(await call({}, { name: "Ada" }), update({ message: "Hello, Ada!" }));
    assert.deepEqual(await call({ config: { greeting: "Hi" } }, { name: "Ada" }), update({ message: "Hi, Ada!" }));
});

test("greets the world without a name", async () => {
    assert.deepEqual(await call({}, {}), update({ message: "Hello, world!" }));
});

test("a name that is not a string is a fatal failure", async () => {
    await assert.rejects(call({}, { name: 5 }), new Fatal("state.name must be a string"));
});
