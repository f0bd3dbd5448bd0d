// `counter` in JavaScript: the counter contract of guest-sdk/CONFORMANCE.md
// (the same behaviour as examples/nodes/counter in Rust), mode by mode.

import { node, update, goto, interrupt, sleep, waitSignal, Retryable, Fatal, log } from "savepoint";

const defaults = {
    by: 1,
    delay_ms: 0,
    trace: false,
    mode: "count",
    goto: null,
    question: "continue?",
    sleep_ms: 100,
    fail_attempts: null,
    message: "counter failed",
    signal: "go",
    timeout_ms: null,
};

export const { describe, run, call } = node(
    {
        name: "counter",
        version: "0.1.0",
        description: "Adds `by` (default 1) to the state's `count`; `mode` picks another outcome (CONFORMANCE.md).",
        defaults,
    },
    async (ctx, state) => {
        const config = ctx.config;
        log.info(`${ctx.node}: ${config.mode} call, attempt ${ctx.attempt}`);
        if (config.delay_ms > 0) {
            await new Promise((resolve) => setTimeout(resolve, config.delay_ms));
        }
        const counted = count(ctx, state);
        switch (config.mode) {
            case "count":
                return update(counted);
            case "echo":
                return update({ ...counted, echo: state.payload ?? null });
            case "context":
                return update({
                    ...counted,
                    ctx: {
                        thread: ctx.thread,
                        node: ctx.node,
                        step: ctx.step,
                        attempt: ctx.attempt,
                        config,
                        resume: ctx.resume ?? null,
                        idempotency_key: ctx.idempotencyKey,
                        interrupt_timed_out: ctx.interruptTimedOut,
                        wakes: ctx.wakes,
                        lease_epoch: ctx.leaseEpoch,
                    },
                });
            case "goto":
                if (config.goto === null) {
                    throw new Fatal('mode "goto" needs config.goto');
                }
                return goto(config.goto, counted);
            case "interrupt":
                if (ctx.resume === undefined) {
                    return interrupt({ question: config.question });
                }
                return update({ ...counted, answer: ctx.resume });
            case "sleep":
                if (ctx.wakes === 0) {
                    return sleep(config.sleep_ms, { slept: true });
                }
                return update({ ...counted, wakes: ctx.wakes });
            case "retryable":
                if (config.fail_attempts === null || ctx.attempt <= config.fail_attempts) {
                    throw new Retryable(config.message);
                }
                return update(counted);
            case "fatal":
                throw new Fatal(config.message);
            case "panic":
                console.error(config.message);
                throw new Error(config.message);
            case "fanout": {
                if (config.goto === null) {
                    throw new Fatal('mode "fanout" needs config.goto');
                }
                const items = state.items ?? [];
                if (!Array.isArray(items)) {
                    throw new Fatal(`state.items must be an array, not ${typeof items}`);
                }
                return items.reduce((outcome, item) => outcome.send(config.goto, { item }), update(counted));
            }
            case "item":
                return update({
                    seen: [{ item: state.item ?? null, send_index: ctx.sendIndex ?? null, idempotency_key: ctx.idempotencyKey }],
                });
            case "signal":
                if (ctx.signal === undefined && !ctx.interruptTimedOut) {
                    return waitSignal(config.signal, { timeoutMs: config.timeout_ms ?? undefined });
                }
                return update({
                    ...counted,
                    signal: ctx.signal === undefined ? null : { name: ctx.signal.name, data: ctx.signal.data },
                    timed_out: ctx.interruptTimedOut,
                });
            default:
                throw new Fatal(`unknown mode ${JSON.stringify(config.mode)}`);
        }
    },
);

/** `{count: count + by}`, plus `trace` when asked. */
function count(ctx, state) {
    const before = state.count ?? 0;
    const after = before + ctx.config.by;
    if (!Number.isSafeInteger(after)) {
        throw new Fatal(`count ${before} + ${ctx.config.by} overflows`);
    }
    return ctx.config.trace ? { count: after, trace: [ctx.node] } : { count: after };
}
