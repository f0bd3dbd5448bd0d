// reshape, natively (no WebAssembly):
//
//     node --import ../../../guest-sdk/js/register.mjs --test

import test from "node:test";
import assert from "node:assert/strict";

import { Fatal, update } from "savepoint";
import { call, flatten } from "./node.js";

const records = [
    { id: 1, name: "Ada", address: { city: "London", zip: "N1" }, password: "x", tags: ["math"] },
    { id: 2, name: "Grace", address: { city: "Arlington" }, password: "y" },
];

test("flatten nests keys with the separator and keeps lists", () => {
    assert.deepEqual(flatten({ a: { b: { c: 1 } }, d: [1, { e: 2 }], f: {} }, "."), { "a.b.c": 1, d: [1, { e: 2 }], f: {} });
    assert.deepEqual(flatten({ a: { b: 1 } }, "_"), { a_b: 1 });
});

test("flatten, pick, rename and defaults", async () => {
    const config = {
        flatten: true,
        pick: ["id", "name", "address.city", "address.zip"],
        rename: { "address.city": "city", "address.zip": "zip" },
        defaults: { zip: "unknown" },
    };
    assert.deepEqual(
        await call({ config }, { records }),
        update({
            records: [
                { id: 1, name: "Ada", city: "London", zip: "N1" },
                { id: 2, name: "Grace", city: "Arlington", zip: "unknown" },
            ],
        }),
    );
});

test("omit, from and to", async () => {
    const outcome = await call({ config: { from: "users", to: "public", omit: ["password", "address"] } }, { users: records });
    assert.deepEqual(outcome.state, { public: [{ id: 1, name: "Ada", tags: ["math"] }, { id: 2, name: "Grace" }] });
});

test("an odd key such as __proto__ stays a key", async () => {
    const record = JSON.parse('{"__proto__": {"x": 1}, "a": 1}');
    const outcome = await call({ config: { flatten: true } }, { records: [record] });
    assert.equal(JSON.stringify(outcome.state), '{"records":[{"__proto__.x":1,"a":1}]}');
});

test("mistakes are fatal failures that say what is wrong", async () => {
    await assert.rejects(call({}, {}), new Fatal("state.records is missing: reshape needs a list of records there"));
    await assert.rejects(call({}, { records: {} }), /state.records is not a list/);
    await assert.rejects(call({}, { records: [1] }), /state.records\[0\] is not an object/);
    await assert.rejects(call({ config: { pick: "id" } }, { records }), /config.pick must be a list of strings/);
    await assert.rejects(call({ config: { colour: "red" } }, { records }), /unknown config key "colour"/);
});
