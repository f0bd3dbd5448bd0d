// Bundle a node file, the `savepoint` module and whatever else the node
// imports into the one ES module that componentize-js takes.
//
//     node bundle.mjs NODE_FILE OUT.js WIT_DIR
//
// The bundle's entry connects the host's `log` import to the SDK and
// re-exports the node's `describe` and `run` (from named exports, or from a
// default export `node(...)`). WIT_DIR is the WIT folder the component is
// built against: the host interface's name carries its package version
// (`savepoint:node/host@0.2.0`). `build` calls this; a node author does not.

import { rolldown } from "rolldown";
import { fileURLToPath } from "node:url";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const [nodeFile, outFile, witDir] = process.argv.slice(2);
if (!nodeFile || !outFile || !witDir) {
    console.error("usage: node bundle.mjs NODE_FILE OUT.js WIT_DIR");
    process.exit(2);
}

/** The `savepoint:node` package's version, from the `package` line of WIT_DIR's files. */
function packageVersion(dir) {
    for (const file of readdirSync(dir).filter((name) => name.endsWith(".wit")).sort()) {
        const found = /^\s*package\s+savepoint:node@([^;\s]+)\s*;/m.exec(readFileSync(join(dir, file), "utf8"));
        if (found) {
            return found[1];
        }
    }
    console.error(`error: no \`package savepoint:node@VERSION;\` in the .wit files of ${dir}`);
    process.exit(1);
}

const hostInterface = `savepoint:node/host@${packageVersion(witDir)}`;

const sdk = fileURLToPath(new URL("./savepoint.js", import.meta.url));
const ENTRY = "\0savepoint-entry";
const node = resolve(nodeFile);

/** The entry module: connect the host's imports, re-export the node. */
function entrySource(exports) {
    const head = [
        `import { log as hostLog, leaseEpoch as hostLeaseEpoch } from ${JSON.stringify(hostInterface)};`,
        'import { __connectHost } from "savepoint";',
    ];
    if (exports.includes("describe") && exports.includes("run")) {
        return [
            ...head,
            `export { describe, run } from ${JSON.stringify(node)};`,
            "__connectHost(hostLog, hostLeaseEpoch);",
        ].join("\n");
    }
    if (exports.includes("default")) {
        return [
            ...head,
            `import exported from ${JSON.stringify(node)};`,
            "__connectHost(hostLog, hostLeaseEpoch);",
            "export const describe = exported.describe;",
            "export const run = exported.run;",
        ].join("\n");
    }
    return null;
}

let missingExports = false;

const savepoint = {
    name: "savepoint",
    resolveId(source) {
        if (source === ENTRY) {
            return ENTRY;
        }
        if (source === "savepoint") {
            return sdk;
        }
        // WIT imports (`savepoint:node/host@0.2.0`, `wasi:...`) are provided by
        // the component's bindings.
        if (/^[a-z][a-z0-9-]*:[a-z][a-z0-9-]*\//.test(source)) {
            return { id: source, external: true };
        }
        return null;
    },
    async load(id) {
        if (id !== ENTRY) {
            return null;
        }
        const resolved = await this.resolve(node);
        const info = await this.load(resolved);
        const source = entrySource(info.exports);
        if (source === null) {
            // Reported after the build, so that a syntax error comes first.
            missingExports = true;
            return `import ${JSON.stringify(node)};`;
        }
        return source;
    },
};

try {
    const bundle = await rolldown({
        input: ENTRY,
        plugins: [savepoint],
        platform: "browser",
        onLog(level, log) {
            if (level === "warn") {
                console.error(`warning: ${log.message}`);
            }
        },
    });
    await bundle.write({ file: outFile, format: "esm", codeSplitting: false, sourcemap: false });
    await bundle.close();
    if (missingExports) {
        throw new Error(
            `error: ${nodeFile} exports neither \`describe\` and \`run\` nor a default node(...); write\n` +
                "    export const { describe, run } = node({ name, version, description }, (ctx, state) => ...)",
        );
    }
} catch (error) {
    console.error(error.message);
    process.exit(1);
}
