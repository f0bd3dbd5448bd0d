// Write savepoint workflow nodes in JavaScript.
//
// A node is a WebAssembly component that the savepoint host calls once per
// step with the run's state. With this module a node is one call to `node()`
// whose `describe` and `run` the node file exports; the WIT shapes of
// `wit/node.wit` (JSON as strings, u64 as BigInt, `result` and `variant` as
// tagged objects) stay out of sight:
//
//     import { node, update, interrupt, sleep, waitSignal, Retryable, Fatal, log } from "savepoint";
//
//     export const { describe, run } = node(
//       { name: "counter", version: "0.1.0", description: "Adds `by` to `count`." },
//       (ctx, state) => update({ count: (state.count ?? 0) + (ctx.config.by ?? 1) }),
//     );
//
// `guest-sdk/js/build NODE_DIR OUT.wasm` bundles the node with this module and
// turns it into a component (componentize-js). `savepoint.d.ts` has the types
// and the documentation of every export; README.md the overview.

/** The host's `log` and `lease-epoch` imports, connected by the build's entry module. */
let hostLog = null;
let hostLeaseEpoch = null;

/**
 * Connect the host's `savepoint:node/host` functions. The entry module that
 * `build` generates calls it; outside a component (unit tests under Node.js)
 * log lines go to standard error instead, and the lease epoch is 0.
 *
 * @internal
 */
export function __connectHost(log, leaseEpoch = null) {
    hostLog = log;
    hostLeaseEpoch = leaseEpoch;
}

// ---------------------------------------------------------------------------
// Logging

function show(value) {
    if (typeof value === "string") {
        return value;
    }
    if (value instanceof Error) {
        return String(value);
    }
    try {
        const text = JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}` : v));
        return text === undefined ? String(value) : text;
    } catch {
        return String(value);
    }
}

function write(level, args) {
    const message = args.map(show).join(" ");
    if (hostLog !== null) {
        hostLog(level, message);
    } else {
        console.error(`[${level}] ${message}`);
    }
}

/**
 * Lines for the run's log (`savepoint logs ID`), stored with the run, step,
 * node and attempt. Arguments are joined with spaces; strings as they are,
 * other values as JSON.
 */
export const log = Object.freeze({
    trace: (...args) => write("trace", args),
    debug: (...args) => write("debug", args),
    info: (...args) => write("info", args),
    warn: (...args) => write("warn", args),
    error: (...args) => write("error", args),
});

// ---------------------------------------------------------------------------
// Outcomes

/** What a successful call asks the host to do. Build one with `update`,
 * `goto`, `interrupt`, `sleep` or `waitSignal`. */
export class Outcome {
    constructor(kind, fields) {
        this.kind = kind;
        Object.assign(this, fields);
        Object.freeze(this);
    }

    /**
     * This update plus one send (fan-out): the next step runs `node` (a node
     * of the workflow) once more with `input` (a plain object) as its whole
     * state, in place of the `next` edge or `goto`. Chain one per element of
     * a list; the sent calls run in parallel, their updates merge in the
     * order of the sends, and each then follows its own node's edges. At most
     * the workflow's `max_fanout` sends (default 1000). Returns a new outcome.
     */
    send(node, input = {}) {
        if (this.kind !== "update") {
            throw new TypeError(`send() adds a send to an update, not to a ${this.kind} outcome`);
        }
        if (typeof node !== "string" || node === "") {
            throw new TypeError(`send() takes a node name, not ${describeValue(node)}`);
        }
        const sent = Object.freeze({ node, input: checkState(`send() to ${node}`, input) });
        return new Outcome("update", { state: this.state, goto: this.goto, sends: Object.freeze([...this.sends, sent]) });
    }
}

function isPlainObject(value) {
    if (value === null || typeof value !== "object") {
        return false;
    }
    const proto = Object.getPrototypeOf(value);
    return proto === Object.prototype || proto === null;
}

function checkState(what, state) {
    if (!isPlainObject(state)) {
        throw new TypeError(`${what} takes a state update that is a plain object, not ${describeValue(state)}`);
    }
    return state;
}

function checkMillis(what, ms) {
    if (typeof ms === "bigint") {
        ms = Number(ms);
    }
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
        throw new TypeError(`${what} must be a number of milliseconds >= 0, not ${describeValue(ms)}`);
    }
    return Math.ceil(ms);
}

function describeValue(value) {
    if (value === null || value === undefined) {
        return String(value);
    }
    if (Array.isArray(value)) {
        return "an array";
    }
    if (typeof value === "object") {
        return `a ${value.constructor?.name ?? "object"}`;
    }
    return `${typeof value} ${show(value)}`;
}

/**
 * Merge `state` (a plain object: each top-level key goes through the
 * workflow's reducer for that key) into the run's state, commit a checkpoint
 * and move on along the node's `next` edge, or along the declared route
 * `options.goto`.
 */
export function update(state = {}, options = {}) {
    const route = options?.goto ?? undefined;
    if (route !== undefined && (typeof route !== "string" || route === "")) {
        throw new TypeError(`goto takes a route name (a node or "end"), not ${describeValue(route)}`);
    }
    return new Outcome("update", { state: checkState("update()", state), goto: route, sends: Object.freeze([]) });
}

/** `update(state, { goto: route })`: take one of the node's `routes`. */
export function goto(route, state = {}) {
    return update(state, { goto: route });
}

/**
 * Park the run until someone answers (`savepoint resume ID --input JSON`).
 * Nothing is committed; `payload` (any JSON value, typically the question) is
 * what `savepoint status` shows. The node then runs again with `ctx.resume`
 * set to the answer; with `options.timeoutMs`, after that long without an
 * answer it runs again with `ctx.interruptTimedOut` set.
 */
export function interrupt(payload = null, options = {}) {
    const timeout = options?.timeoutMs ?? undefined;
    return new Outcome("interrupt", {
        payload,
        timeoutMs: timeout === undefined ? undefined : checkMillis("interrupt timeoutMs", timeout),
    });
}

/**
 * Commit `state` (merged like any update), park the run durably for `ms`
 * milliseconds, then run this same node again with `ctx.wakes` one higher
 * (polling).
 */
export function sleep(ms, state = {}) {
    return new Outcome("sleep", { ms: checkMillis("sleep()", ms), state: checkState("sleep()", state) });
}

/**
 * Park the run as `waiting` until a signal called `name` is in its mailbox
 * (`savepoint signal ID NAME --data JSON`; one sent before the wait counts
 * too), then run this node again, on the same state, with `ctx.signal` set
 * to it. Nothing is committed. With `options.timeoutMs`, no signal by then
 * runs the node again with `ctx.signal` undefined and `ctx.interruptTimedOut`
 * set.
 */
export function waitSignal(name, options = {}) {
    if (typeof name !== "string" || name === "") {
        throw new TypeError(`waitSignal() takes a signal name, not ${describeValue(name)}`);
    }
    const timeout = options?.timeoutMs ?? undefined;
    return new Outcome("wait-signal", {
        name,
        timeoutMs: timeout === undefined ? undefined : checkMillis("waitSignal timeoutMs", timeout),
    });
}

// ---------------------------------------------------------------------------
// Failures

/** Why a call failed. Throw a `Retryable` or a `Fatal`; the host records the
 * message with the node's name. */
export class Failure extends Error {
    constructor(message, options) {
        super(message, options);
        this.name = new.target.name;
    }

    /** The text the host records: the message, then the `cause`, if any. */
    get reason() {
        const cause = this.cause;
        return cause === undefined ? this.message : `${this.message}: ${show(cause)}`;
    }
}

/** A transient problem (an outage, a rate limit): the workflow's `retry`
 * policy applies; without one the run fails at this node. */
export class Retryable extends Failure {}

/** A permanent problem: the run fails at this node (no retry). */
export class Fatal extends Failure {}

// ---------------------------------------------------------------------------
// The node

function parseJson(what, text) {
    try {
        return JSON.parse(text);
    } catch (error) {
        throw new Fatal(`${what} is not valid JSON (${error.message})`);
    }
}

function toJson(what, value) {
    let text;
    try {
        text = JSON.stringify(value);
    } catch (error) {
        throw new TypeError(`${what} cannot be written as JSON: ${error.message}`);
    }
    if (text === undefined) {
        throw new TypeError(`${what} cannot be written as JSON: ${describeValue(value)}`);
    }
    return text;
}

/** An idiomatic context from the WIT record. */
function contextFrom(raw, defaults) {
    const config = parseJson("the node's config", raw.config);
    return Object.freeze({
        thread: raw.thread,
        node: raw.node,
        step: Number(raw.step),
        attempt: raw.attempt,
        config: isPlainObject(config) ? { ...defaults, ...config } : config,
        resume: raw.resume === undefined || raw.resume === null ? undefined : parseJson("the resume input", raw.resume),
        interruptTimedOut: raw.interruptTimedOut,
        wakes: raw.wakes,
        idempotencyKey: raw.idempotencyKey,
        leaseEpoch: hostLeaseEpoch === null ? 0 : Number(hostLeaseEpoch()),
        signal: signalFrom(raw.signal),
        sendIndex: raw.sendIndex ?? undefined,
    });
}

/** The WIT `signal` (absent from a savepoint:node@0.1.0 context), parsed. */
function signalFrom(raw) {
    if (raw === undefined || raw === null) {
        return undefined;
    }
    return Object.freeze({ name: raw.name, data: parseJson(`the data of signal ${raw.name}`, raw.data) });
}

/** What `call` and `run` accept from a handler, as an Outcome. */
function outcomeOf(value) {
    if (value instanceof Outcome) {
        return value;
    }
    if (value === undefined || value === null) {
        return update({});
    }
    if (value instanceof Failure) {
        throw value;
    }
    if (isPlainObject(value)) {
        return update(value);
    }
    throw new TypeError(
        `the node returned ${describeValue(value)}; return update(...), goto(...), interrupt(...), ` +
            "sleep(...), waitSignal(...), a plain object (an update) or nothing",
    );
}

/** The WIT `outcome` variant for an Outcome. */
function witOutcome(outcome) {
    switch (outcome.kind) {
        case "update":
            return {
                tag: "update",
                val: {
                    state: toJson("the update", outcome.state),
                    goto: outcome.goto,
                    sends: outcome.sends.map((send) => ({
                        node: send.node,
                        input: toJson(`the input of the send to ${send.node}`, send.input),
                    })),
                },
            };
        case "interrupt":
            return {
                tag: "interrupt",
                val: { payload: toJson("the interrupt payload", outcome.payload), timeoutMs: outcome.timeoutMs },
            };
        case "sleep":
            return { tag: "sleep", val: { durationMs: outcome.ms, state: toJson("the sleep update", outcome.state) } };
        case "wait-signal":
            return { tag: "wait-signal", val: { name: outcome.name, timeoutMs: outcome.timeoutMs } };
        default:
            throw new TypeError(`unknown outcome kind ${show(outcome.kind)}`);
    }
}

/** Lines of an error's stack that belong to the node, not to the bindings. */
function stackOf(error) {
    const stack = typeof error?.stack === "string" ? error.stack : "";
    return stack
        .split("\n")
        .filter((line) => line.trim() !== "" && !line.includes("initializer.js"))
        .map((line) => `    ${line.trim()}`)
        .join("\n");
}

/**
 * The value `run` returns for an exception that is not a Failure: it makes
 * the call trap, as a Rust panic does, and the host reports the node as
 * "trapped" with the end of its stderr.
 *
 * componentize-js 0.23 turns a value thrown by an export into the `err` case
 * of its `result` (any object or string, even an Error, except one with a
 * `payload`), which would hide the crash behind a confusing "invalid variant"
 * message. So the SDK writes the exception and its stack to stderr itself,
 * then returns an `err` whose `tag` cannot be read: reading it throws the
 * summary string outside the bindings' try block, StarlingMonkey prints it
 * and aborts (a wasm `unreachable` trap).
 */
function trap(error) {
    const summary = `uncaught ${error instanceof Error ? String(error) : `exception: ${show(error)}`}`;
    const stack = stackOf(error);
    console.error(stack === "" ? summary : `${summary}\n${stack}`);
    return {
        tag: "err",
        val: {
            get tag() {
                throw summary;
            },
        },
    };
}

function witFailure(error) {
    return { tag: "err", val: { tag: error instanceof Retryable ? "retryable" : "fatal", val: error.reason } };
}

/** The WIT result for what a handler returned or threw. */
function settled(value) {
    try {
        return { tag: "ok", val: witOutcome(outcomeOf(value)) };
    } catch (error) {
        return failed(error);
    }
}

function failed(error) {
    return error instanceof Failure ? witFailure(error) : trap(error);
}

function isThenable(value) {
    return value !== null && (typeof value === "object" || typeof value === "function") && typeof value.then === "function";
}

/** A context for tests: every field of a first call, overridden by `fields`. */
export function testContext(fields = {}) {
    const step = fields.step ?? 1;
    const thread = fields.thread ?? "test";
    const name = fields.node ?? "node";
    const index = fields.sendIndex ?? undefined;
    return Object.freeze({
        thread,
        node: name,
        step,
        attempt: 1,
        config: {},
        resume: undefined,
        interruptTimedOut: false,
        wakes: 0,
        idempotencyKey: index === undefined ? `${thread}/${step}/${name}` : `${thread}/${step}/${name}/${index}`,
        leaseEpoch: 1,
        signal: undefined,
        sendIndex: undefined,
        ...fields,
    });
}

/**
 * Define a node: `info` is what `savepoint plugins` shows (`name`,
 * `version`, `description`, optional `configSchema`) plus optional
 * `defaults` for the config; `handler(ctx, state)` runs one step.
 *
 * Returns the world's exports `describe` and `run` (export both from the node
 * file), and `call(ctx, state)` to test the handler without WebAssembly.
 */
export function node(info, handler) {
    if (!isPlainObject(info)) {
        throw new TypeError("node(info, handler): info must be an object { name, version, description }");
    }
    const { name, version, description = "", configSchema, defaults = {} } = info;
    for (const [key, value] of Object.entries({ name, version, description })) {
        if (typeof value !== "string") {
            throw new TypeError(`node(info, handler): info.${key} must be a string, not ${describeValue(value)}`);
        }
    }
    if (name === "" || version === "") {
        throw new TypeError("node(info, handler): info.name and info.version must not be empty");
    }
    if (!isPlainObject(defaults)) {
        throw new TypeError("node(info, handler): info.defaults must be a plain object");
    }
    if (typeof handler !== "function") {
        throw new TypeError("node(info, handler): handler must be a function (ctx, state) => outcome");
    }
    const schema =
        configSchema === undefined || configSchema === null
            ? undefined
            : typeof configSchema === "string"
              ? configSchema
              : toJson("info.configSchema", configSchema);
    const nodeInfo = Object.freeze({ name, version, description, configSchema: schema });

    /** The world's `describe`: what `savepoint plugins` shows. */
    function describe() {
        return nodeInfo;
    }

    /** The world's `run`: WIT shapes in and out. */
    function run(rawContext, rawState) {
        let result;
        try {
            const ctx = contextFrom(rawContext, defaults);
            const state = parseJson("the state", rawState);
            result = handler(ctx, state);
        } catch (error) {
            return failed(error);
        }
        return isThenable(result) ? Promise.resolve(result).then(settled, failed) : settled(result);
    }

    /**
     * Run the handler as the host would, without WebAssembly: `ctx` is
     * completed by `testContext` and its config by `info.defaults`. Resolves
     * to the Outcome; rejects with the Failure (or any other error) thrown.
     */
    async function call(ctx = {}, state = {}) {
        const base = testContext({ node: name, ...ctx });
        const full = Object.freeze({ ...base, config: { ...defaults, ...base.config } });
        const outcome = outcomeOf(await handler(full, structuredClone(state)));
        witOutcome(outcome); // throws as `run` would for what JSON cannot hold
        return outcome;
    }

    return Object.freeze({ describe, run, call, info: nodeInfo });
}
