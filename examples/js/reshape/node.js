// `reshape`: reshapes the objects in a list of the state (`records` by
// default): flatten nested objects into dotted keys, keep (`pick`) or drop
// (`omit`) keys, `rename` keys and fill in `defaults`. See README.md.

import { node, update, Fatal, log } from "savepoint";

const configSchema = {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    additionalProperties: false,
    properties: {
        from: { type: "string", description: "The state key that holds the list of records.", default: "records" },
        to: { type: "string", description: "The state key to write the reshaped list to (default: `from`)." },
        flatten: { type: "boolean", description: "Flatten nested objects into dotted keys first.", default: false },
        separator: { type: "string", description: "What joins flattened keys.", default: "." },
        pick: { type: "array", items: { type: "string" }, description: "Keep only these keys, in this order." },
        omit: { type: "array", items: { type: "string" }, description: "Drop these keys." },
        rename: { type: "object", additionalProperties: { type: "string" }, description: "old key -> new key." },
        defaults: { type: "object", description: "Values for keys a record lacks (after renaming)." },
    },
};

export const { describe, run, call } = node(
    {
        name: "reshape",
        version: "0.1.0",
        description: "Reshapes the records in `state.records`: flatten, pick, omit, rename keys, fill defaults.",
        configSchema,
        defaults: { from: "records", to: null, flatten: false, separator: ".", pick: null, omit: [], rename: {}, defaults: {} },
    },
    (ctx, state) => {
        const config = checkConfig(ctx.config);
        const records = state[config.from];
        if (records === undefined) {
            throw new Fatal(`state.${config.from} is missing: reshape needs a list of records there`);
        }
        if (!Array.isArray(records)) {
            throw new Fatal(`state.${config.from} is not a list`);
        }
        const reshaped = records.map((record, index) => {
            if (!isObject(record)) {
                throw new Fatal(`state.${config.from}[${index}] is not an object`);
            }
            return reshape(record, config);
        });
        const to = config.to ?? config.from;
        const keys = new Set(reshaped.flatMap(Object.keys));
        log.info(`${ctx.node}: reshaped ${reshaped.length} records of state.${config.from} into state.${to}`, [...keys]);
        return update({ [to]: reshaped });
    },
);

/** One record, reshaped by the config. */
export function reshape(record, config) {
    let fields = Object.entries(config.flatten ? flatten(record, config.separator) : record);
    if (config.pick !== null) {
        const byKey = new Map(fields);
        fields = config.pick.filter((key) => byKey.has(key)).map((key) => [key, byKey.get(key)]);
    }
    const omitted = new Set(config.omit);
    fields = fields.filter(([key]) => !omitted.has(key));
    const out = {};
    for (const [key, value] of fields) {
        set(out, Object.hasOwn(config.rename, key) ? config.rename[key] : key, value);
    }
    for (const [key, value] of Object.entries(config.defaults)) {
        if (!Object.hasOwn(out, key)) {
            set(out, key, value);
        }
    }
    return out;
}

/** `{a: {b: 1}, c: [2]}` -> `{"a.b": 1, c: [2]}`: objects are flattened, lists kept. */
export function flatten(value, separator, prefix = "", out = {}) {
    for (const [key, inner] of Object.entries(value)) {
        const path = prefix === "" ? key : `${prefix}${separator}${key}`;
        if (isObject(inner) && Object.keys(inner).length > 0) {
            flatten(inner, separator, path, out);
        } else {
            set(out, path, inner);
        }
    }
    return out;
}

/** `out[key] = value`, also for a key such as `__proto__`. */
function set(out, key, value) {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The config, checked: a mistake is a fatal failure that names the key. */
function checkConfig(config) {
    const known = new Set(Object.keys(configSchema.properties));
    for (const key of Object.keys(config)) {
        if (!known.has(key)) {
            throw new Fatal(`unknown config key ${JSON.stringify(key)} (known: ${[...known].join(", ")})`);
        }
    }
    const strings = (key) => {
        const value = config[key];
        if (value !== null && (!Array.isArray(value) || !value.every((item) => typeof item === "string"))) {
            throw new Fatal(`config.${key} must be a list of strings`);
        }
    };
    strings("pick");
    strings("omit");
    for (const key of ["from", "separator"]) {
        if (typeof config[key] !== "string" || config[key] === "") {
            throw new Fatal(`config.${key} must be a non-empty string`);
        }
    }
    if (config.to !== null && (typeof config.to !== "string" || config.to === "")) {
        throw new Fatal("config.to must be a non-empty string");
    }
    if (typeof config.flatten !== "boolean") {
        throw new Fatal("config.flatten must be true or false");
    }
    if (!isObject(config.rename) || !Object.values(config.rename).every((name) => typeof name === "string")) {
        throw new Fatal("config.rename must be a table of old key = new key strings");
    }
    if (!isObject(config.defaults)) {
        throw new Fatal("config.defaults must be a table");
    }
    return config;
}
