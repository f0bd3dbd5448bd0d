"""`@NAME@`: a savepoint node in Python.

Reads `state.name` (a string; "world" when absent), logs `greeting NAME`,
waits `delay_ms`, and returns `{"message": "<greeting>, <name>!"}`.

Config (every key optional; `CONFIG_SCHEMA` declares the same to
`savepoint validate` and `savepoint plugins`):

| key | default | meaning |
|---|---|---|
| `greeting` | "Hello" | the word to greet with |
| `delay_ms` | 0 | how long to wait before answering, in milliseconds |

Build and install it with `./build.sh`; test it with `python3 -m unittest`
(see README.md).
"""

# Import everything the node needs here, at the top: the component is a
# snapshot taken after this module is imported, and a module imported for the
# first time during a call is not found.
import time
from dataclasses import dataclass

from savepoint import Context, Fatal, Result, log, node, update

CONFIG_SCHEMA = {
    "type": "object",
    "properties": {
        "greeting": {
            "type": "string",
            "default": "Hello",
            "description": "The word to greet with.",
        },
        "delay_ms": {
            "type": "integer",
            "minimum": 0,
            "default": 0,
            "description": "How long to wait before answering, in milliseconds.",
        },
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Config:
    """The node's `config` table in the workflow file."""

    greeting: str = "Hello"
    delay_ms: int = 0

    def __post_init__(self) -> None:
        if self.delay_ms < 0:
            raise ValueError("delay_ms must be an integer >= 0")


@node(
    name="@NAME@",
    version="0.1.0",
    description="Greets `state.name` (a template: change me).",
    config=Config,
    config_schema=CONFIG_SCHEMA,
)
def run(ctx: Context[Config], state: dict) -> Result:
    name = state.get("name", "world")
    if not isinstance(name, str):
        # A permanent problem: the run fails at this node (Retryable: retry).
        raise Fatal("state.name must be a string")
    log.info(f"greeting {name}")
    if ctx.config.delay_ms:
        time.sleep(ctx.config.delay_ms / 1000)
    # A partial update, merged into the run's state by the workflow's reducers.
    return update({"message": f"{ctx.config.greeting}, {name}!"})
