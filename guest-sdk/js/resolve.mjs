// The module resolve hook that register.mjs installs: "savepoint" is the SDK.

const sdk = new URL("./savepoint.js", import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
    if (specifier === "savepoint") {
        return { url: sdk, shortCircuit: true };
    }
    return nextResolve(specifier, context);
}
