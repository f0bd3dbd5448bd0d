"""`@NAME@`: a savepoint node in Python.

Config (every key optional):

| key | default | meaning |
|---|---|---|
| `greeting` | "Hello" | the word to greet with |

Reads `state.name` and writes `state.greeting`. Build and install it with
`./build.sh`; test it with `python3 -m unittest` (see README.md).
"""

# Import everything the node needs here, at the top: the component is a
# snapshot taken after this module is imported, and a module imported for the
# first time during a call is not found.
from savepoint import Context, Fatal, Result, log, node, update


@node(name="@NAME@", version="0.1.0", description="Greets `name` (a template node).")
def run(ctx: Context, state: dict) -> Result:
    name = state.get("name")
    if not isinstance(name, str):
        raise Fatal('state.name must be a string, e.g. --input \'{"name": "Ada"}\'')
    greeting = f"{ctx.config.get('greeting', 'Hello')}, {name}!"
    log.info(f"{ctx.node}: {greeting}")
    return update({"greeting": greeting})
