// Types for `savepoint`, the module JavaScript (and TypeScript) nodes import.
// The implementation is savepoint.js beside this file; README.md has the
// overview and the build.

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object: states, updates and configs are objects. */
export type JsonObject = { [key: string]: Json };

/** What the host tells a node about the call it is making. */
export interface Context<Config = JsonObject> {
    /** The run (thread) id: the save slot this call belongs to. */
    readonly thread: string;
    /** The name of this node in the workflow file (`[nodes.<name>]`). */
    readonly node: string;
    /** The step this call will commit, from 1. A replayed step keeps its number. */
    readonly step: number;
    /** Which attempt at this step this is, from 1 (retries and replays add one). */
    readonly attempt: number;
    /** The node's `config` table from the workflow file, over `info.defaults`. */
    readonly config: Config;
    /**
     * The answer to this node's interrupt (`savepoint resume ID --input JSON`),
     * parsed; `undefined` when this call answers no interrupt.
     */
    readonly resume: Json | undefined;
    /**
     * True when the interrupt's (or the signal wait's) deadline passed
     * unanswered (`resume` and `signal` are then undefined).
     */
    readonly interruptTimedOut: boolean;
    /** How many times in a row this node has slept and been woken: 0 on a first call. */
    readonly wakes: number;
    /**
     * `<thread>/<step>/<node>`: the same for every attempt at this step. Pass
     * it to outside systems so that a retried side effect happens only once.
     * A call made for a send has `<thread>/<step>/<node>/<sendIndex>`.
     */
    readonly idempotencyKey: string;
    /**
     * The run's lease epoch, a fencing token: it grows every time the run
     * passes to another process (a takeover after a crash or a stall). Send it
     * with writes to outside systems, and have them refuse a write whose epoch
     * is lower than one they have seen. 0 outside a run.
     */
    readonly leaseEpoch: number;
    /**
     * The signal this call receives after `waitSignal(name)`: the oldest
     * undelivered one of that name. `undefined` otherwise, and when the wait's
     * deadline passed first (`interruptTimedOut` is then true).
     */
    readonly signal: Signal | undefined;
    /**
     * For a call made for a send (`update(...).send(node, input)`): its place
     * among all the sends of the previous step, from 0 (the state is then the
     * send's input). `undefined` for an ordinary call.
     */
    readonly sendIndex: number | undefined;
}

/** A named message delivered to the run (`savepoint signal ID NAME --data JSON`). */
export interface Signal {
    /** The name it was sent under, e.g. `"go"`. */
    readonly name: string;
    /** What it carries, parsed (`null` when sent without data). */
    readonly data: Json;
}

/** What a successful call asks the host to do. */
export type Outcome = UpdateOutcome | InterruptOutcome | SleepOutcome | WaitSignalOutcome;

/** One call of `node` in the next step, with `input` as its whole state. */
export interface Send {
    readonly node: string;
    readonly input: JsonObject;
}

/** Merge `state` into the run's state, commit, move on (`goto`: a declared route; `sends`: fan-out). */
export interface UpdateOutcome {
    readonly kind: "update";
    readonly state: JsonObject;
    readonly goto: string | undefined;
    readonly sends: readonly Send[];
    /**
     * This update plus one send (fan-out): the next step runs `node` once
     * more with `input` as its whole state, in place of the `next` edge or
     * `goto`. Chain one per element; the sent calls run in parallel, their
     * updates merge in the order of the sends, and each then follows its own
     * node's edges. At most the workflow's `max_fanout` (default 1000).
     */
    send(node: string, input?: JsonObject): UpdateOutcome;
}

/** Park the run until someone answers; nothing is committed. */
export interface InterruptOutcome {
    readonly kind: "interrupt";
    readonly payload: Json;
    readonly timeoutMs: number | undefined;
}

/** Commit `state`, park the run for `ms`, then run this node again. */
export interface SleepOutcome {
    readonly kind: "sleep";
    readonly ms: number;
    readonly state: JsonObject;
}

/** Park the run until a signal `name` arrives; nothing is committed. */
export interface WaitSignalOutcome {
    readonly kind: "wait-signal";
    readonly name: string;
    readonly timeoutMs: number | undefined;
}

/** The class of every outcome (`value instanceof Outcome`); build them with the functions below. */
export declare const Outcome: {
    new (kind: never, fields: never): Outcome;
    readonly prototype: Outcome;
};

/**
 * Merge `state` into the run's state: each top-level key goes through the
 * workflow's reducer for it (`replace` unless `[state]` says otherwise); keys
 * that are absent stay as they are. Then commit a checkpoint and follow the
 * node's `next` edge, or the route `options.goto` (one of the node's declared
 * `routes`, or `"end"`).
 */
export declare function update(state?: JsonObject, options?: { goto?: string }): UpdateOutcome;

/** `update(state, { goto: route })`. */
export declare function goto(route: string, state?: JsonObject): UpdateOutcome;

/**
 * Park the run until a human or another system answers with
 * `savepoint resume ID --input JSON`; nothing is committed. `payload` (the
 * question) is what `savepoint status` shows. The node then runs again with
 * `ctx.resume` set. With `timeoutMs`, silence past it runs the node again with
 * `ctx.interruptTimedOut` set.
 */
export declare function interrupt(payload?: Json, options?: { timeoutMs?: number }): InterruptOutcome;

/**
 * Commit `state`, park the run durably for `ms` milliseconds, then run this
 * same node again with `ctx.wakes` one higher (polling).
 */
export declare function sleep(ms: number, state?: JsonObject): SleepOutcome;

/**
 * Park the run as `waiting` until a signal called `name` is in its mailbox
 * (`savepoint signal ID NAME --data JSON`; one sent before the wait counts
 * too), then run this node again, on the same state, with `ctx.signal` set.
 * Nothing is committed. With `timeoutMs`, no signal by then runs the node
 * again with `ctx.signal` undefined and `ctx.interruptTimedOut` set.
 */
export declare function waitSignal(name: string, options?: { timeoutMs?: number }): WaitSignalOutcome;

/** Why a call failed: throw a `Retryable` or a `Fatal`. */
export declare class Failure extends Error {
    constructor(message: string, options?: { cause?: unknown });
    /** What the host records: the message, then `: <cause>` when there is one. */
    readonly reason: string;
}

/** A transient problem: the workflow's `retry` policy applies. */
export declare class Retryable extends Failure {}

/** A permanent problem: the run fails at this node, no retry. */
export declare class Fatal extends Failure {}

/** What a handler may return: an outcome, a plain object (an update), or nothing (`update({})`). */
export type HandlerResult = Outcome | JsonObject | void | null | undefined;

/**
 * One step of the node. Throw `Retryable` or `Fatal` to fail the step; any
 * other exception traps the call (the host reports the node as "trapped",
 * with the exception on the run's stderr log), like a Rust panic.
 */
export type Handler<Config = JsonObject, State = JsonObject> = (
    ctx: Context<Config>,
    state: State,
) => HandlerResult | Promise<HandlerResult>;

/** What `savepoint plugins` shows, plus the config's defaults. */
export interface NodeInfo<Config = JsonObject> {
    /** A short name, e.g. `counter`. */
    name: string;
    /** The node's own version, e.g. `1.2.0`. */
    version: string;
    /** One or two sentences on what the node does. */
    description?: string;
    /** A JSON Schema for the node's `config` (an object, or its JSON text). */
    configSchema?: JsonObject | string;
    /** Defaults for the config's top-level keys: `ctx.config` is `{...defaults, ...config}`. */
    defaults?: Partial<Config>;
}

/** The WIT shapes the componentize-js bindings exchange (not for node authors). */
export interface WitNodeInfo {
    name: string;
    version: string;
    description: string;
    configSchema: string | undefined;
}
export interface WitContext {
    thread: string;
    node: string;
    step: bigint;
    attempt: number;
    config: string;
    resume: string | undefined;
    interruptTimedOut: boolean;
    wakes: number;
    idempotencyKey: string;
    signal: { name: string; data: string } | undefined;
    sendIndex: number | undefined;
}
export type WitOutcome =
    | { tag: "update"; val: { state: string; goto: string | undefined; sends: { node: string; input: string }[] } }
    | { tag: "interrupt"; val: { payload: string; timeoutMs: number | undefined } }
    | { tag: "sleep"; val: { durationMs: number; state: string } }
    | { tag: "wait-signal"; val: { name: string; timeoutMs: number | undefined } };
export type WitResult =
    | { tag: "ok"; val: WitOutcome }
    | { tag: "err"; val: { tag: "retryable" | "fatal"; val: string } };

/** What `node()` returns. */
export interface NodeExports<Config = JsonObject, State = JsonObject> {
    /** The world's `describe` export: export it from the node file. */
    describe(): WitNodeInfo;
    /** The world's `run` export: export it from the node file. */
    run(ctx: WitContext, state: string): WitResult | Promise<WitResult>;
    /**
     * Run the handler natively, as the host would, for tests: `ctx` is
     * completed by `testContext` (and its config by `defaults`). Resolves to
     * the outcome; rejects with what the handler threw.
     */
    call(ctx?: Partial<Context<Partial<Config>>>, state?: Partial<State>): Promise<Outcome>;
    /** The node's info as `describe` returns it. */
    readonly info: WitNodeInfo;
}

/**
 * Define a node:
 *
 * ```js
 * export const { describe, run } = node(
 *   { name: "greet", version: "0.1.0", description: "Says hello to `name`." },
 *   (ctx, state) => update({ greeting: `Hello, ${state.name}!` }),
 * );
 * ```
 */
export declare function node<Config = JsonObject, State = JsonObject>(
    info: NodeInfo<Config>,
    handler: Handler<Config, State>,
): NodeExports<Config, State>;

/** A first call's context (`thread: "test"`, step 1, attempt 1, ...), overridden by `fields`. */
export declare function testContext<Config = JsonObject>(fields?: Partial<Context<Config>>): Context<Config>;

/** Lines for the run's log (`savepoint logs ID`); arguments joined with spaces, non-strings as JSON. */
export declare const log: {
    readonly trace: (...args: unknown[]) => void;
    readonly debug: (...args: unknown[]) => void;
    readonly info: (...args: unknown[]) => void;
    readonly warn: (...args: unknown[]) => void;
    readonly error: (...args: unknown[]) => void;
};

/** @internal Connects the host's `log` and `lease-epoch` imports; the build's entry module calls it. */
export declare function __connectHost(
    log: (level: "trace" | "debug" | "info" | "warn" | "error", message: string) => void,
    leaseEpoch?: () => bigint,
): void;
