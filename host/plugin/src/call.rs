//! One call of a node: a fresh instance in a new sandbox, or (with `reuse`) a
//! warm one left by an earlier successful call of the same plugin, node and
//! limits; the call's limits; and its traps turned into [`CallError`]s.

use wasmtime::{Engine, Store};

use super::bindings::{Node, NodePre};
use super::engine::Compiler;
use super::output;
use super::pool::{self, Room, WARM_MEMORY, WarmKey};
use super::sandbox::NodeState;
use super::tier::Tiered;
use super::{CallError, CallInput, CallLimits, CallOutput, Lease, NodeInfo, Plugin};

/// The instance slots and idle warm instances of a [`super::PluginHost`].
pub type Instances = pool::Instances<Sandbox>;

/// A component's code, linked, in the engine of the compiler that made it:
/// what a call instantiates (see `tier.rs`).
pub struct Code {
    pub compiler: Compiler,
    pub engine: Engine,
    pub pre: NodePre,
}

impl Tiered for Code {
    fn compiler(&self) -> Compiler {
        self.compiler
    }
}

/// A sandbox and, once instantiated, the node's instance in it. Fields drop in
/// order: the store (which returns its memories and tables to the engine's
/// pool) before the room (slot and memory reservation) that stands for them.
pub struct Sandbox {
    store: Store<NodeState>,
    node: Option<Node>,
    _room: Room,
}

impl Sandbox {
    /// A new store with `limits`, holding `room`; nothing instantiated yet.
    pub fn new(engine: &Engine, limits: &CallLimits, room: Room) -> Sandbox {
        let mut store = Store::new(engine, NodeState::new(limits));
        store.limiter(|state| state.limiter());
        let mut sandbox = Sandbox {
            store,
            node: None,
            _room: room,
        };
        sandbox.refill(limits);
        // Yield to the executor at every epoch tick: a busy guest never blocks
        // other tasks, and a timeout can stop it.
        sandbox.store.epoch_deadline_async_yield_and_update(1);
        sandbox
    }

    /// What each call starts with, fresh or warm: a full fuel budget and an
    /// epoch deadline from now.
    fn refill(&mut self, limits: &CallLimits) {
        // No budget means a full tank: metering is on for every store.
        self.store
            .set_fuel(limits.fuel.unwrap_or(u64::MAX))
            .expect("fuel metering is enabled on the engine");
        self.store.set_epoch_deadline(1);
    }

    /// Instantiate the node, unless this is a warm instance.
    async fn instantiate(&mut self, pre: &NodePre) -> wasmtime::Result<()> {
        if self.node.is_none() {
            self.node = Some(pre.instantiate_async(&mut self.store).await?);
        }
        Ok(())
    }

    /// Call `run` once, within `input.timeout`. Returns the output and whether
    /// the instance may serve another call: only when the call returned an
    /// outcome without touching a limit, and its memory is at most
    /// [`WARM_MEMORY`] (an idle instance holds its memory).
    async fn run(&mut self, pre: &NodePre, input: &CallInput, state: String) -> (CallOutput, bool) {
        let _ticking = super::ticker::Running::start();
        let call = async {
            self.instantiate(pre).await?;
            let node = self.node.as_ref().expect("instantiated above");
            node.run(&mut self.store, input, &state).await
        };
        let timed = async {
            match input.timeout {
                None => Some(call.await),
                Some(limit) => tokio::time::timeout(limit, call).await.ok(),
            }
        };
        // Past its lease the call is dropped at its next yield (an epoch
        // tick, or a host call that waits), and whatever it did is discarded.
        let raw = super::lease::bounded(input.lease.as_ref(), timed).await;
        let limits = &input.limits;
        let result = match raw {
            _ if input.lease.as_ref().is_some_and(Lease::expired) => Err(CallError::LeaseExpired),
            None => Err(CallError::LeaseExpired),
            Some(None) => Err(CallError::Timeout(input.timeout.unwrap_or_default())),
            Some(Some(Ok(returned))) => returned,
            Some(Some(Err(trap))) => Err(classify_trap(&trap, self.store.data(), limits)),
        };
        let data = self.store.data();
        let reusable =
            result.is_ok() && !data.hit_memory_limit() && data.memory_size() <= WARM_MEMORY;
        let logs = self.store.data_mut().take_logs();
        (CallOutput { result, logs }, reusable)
    }
}

impl Plugin {
    /// Call `run`: in a fresh sandbox, or with `input.reuse` in a warm
    /// instance of this plugin, node and limits when one is idle. A fresh
    /// sandbox first reserves the node's whole `memory` limit from the host's
    /// memory budget, waiting for room. An instance goes back to the warm ones
    /// only after a call that returned an outcome; one that trapped, timed
    /// out, ran out of fuel, hit its memory limit, returned any failure or
    /// grew past `WARM_MEMORY` is dropped.
    pub async fn call(&self, input: &CallInput, state: String) -> CallOutput {
        // Never start a call on a lease that may be someone else's by now.
        if input.lease.as_ref().is_some_and(Lease::expired) {
            return CallOutput {
                result: Err(CallError::LeaseExpired),
                logs: Vec::new(),
            };
        }
        // The code of the compiler the plugin runs now; a warm instance of
        // another compiler's code is not taken (it is left to expire).
        let code = self.code.for_call();
        let key = input.reuse.then(|| WarmKey {
            digest: self.digest.clone(),
            compiler: code.compiler,
            node: input.node.clone(),
            limits: input.limits.clone(),
        });
        let warm = key.as_ref().and_then(|key| self.instances.take(key));
        let mut sandbox = match warm {
            Some(mut sandbox) => {
                sandbox.refill(&input.limits);
                sandbox
            }
            None => match self.instances.room(input.limits.memory as u64).await {
                Ok(room) => Sandbox::new(&code.engine, &input.limits, room),
                Err(over) => {
                    let error = CallError::OverMemoryBudget {
                        limit: input.limits.memory,
                        budget: over.budget,
                    };
                    return CallOutput {
                        result: Err(error),
                        logs: Vec::new(),
                    };
                }
            },
        };
        sandbox.store.data_mut().start_call(&input.secrets);
        sandbox.store.data_mut().set_lease(input.lease.clone());
        let (output, reusable) = sandbox.run(&code.pre, input, state).await;
        match key {
            Some(key) if reusable => {
                drop(self.instances.put(key, sandbox, std::time::Instant::now()))
            }
            _ => drop(sandbox),
        }
        output
    }
}

/// Why `describe()` gave no answer.
#[derive(Debug, Clone)]
pub enum DescribeError {
    /// Something about the component (a trap, a timeout, an answer too big
    /// or not valid): the same on every try.
    Component(String),
    /// The host's instance pool had no room: a later try can succeed.
    PoolExhausted(String),
}

/// Instantiate the component in a fresh sandbox with `limits` and call
/// `describe()`, within `timeout` (the guest yields at every epoch tick,
/// so a looping `describe()` is stopped on time).
pub async fn describe(
    engine: &Engine,
    pre: &NodePre,
    limits: &CallLimits,
    room: Room,
    timeout: std::time::Duration,
) -> Result<NodeInfo, DescribeError> {
    let mut sandbox = Sandbox::new(engine, limits, room);
    let _ticking = super::ticker::Running::start();
    let call = async {
        sandbox.instantiate(pre).await?;
        let node = sandbox.node.as_ref().expect("instantiated above");
        node.describe(&mut sandbox.store).await
    };
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(DescribeError::Component(format!(
            "did not return within {timeout:?}"
        ))),
        Ok(Err(trap)) => Err(match pool_exhausted(&trap) {
            Some(error) => DescribeError::PoolExhausted(error.to_string()),
            None => DescribeError::Component(format!(
                "trapped: {}",
                output::message(
                    trap_message(&trap, sandbox.store.data()),
                    &Default::default()
                )
            )),
        }),
        Ok(Ok(info)) => info.map_err(DescribeError::Component),
    }
}

/// A trap as the limit it breached, or as a plain trap.
fn classify_trap(error: &wasmtime::Error, state: &NodeState, limits: &CallLimits) -> CallError {
    if let Some(error) = pool_exhausted(error) {
        return error;
    }
    if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::OutOfFuel) {
        return CallError::OutOfFuel {
            fuel: limits.fuel.unwrap_or(u64::MAX),
        };
    }
    if state.hit_memory_limit() {
        return CallError::MemoryLimit {
            limit: limits.memory,
        };
    }
    CallError::Trap(output::message(trap_message(error, state), state.secrets()))
}

/// The engine's instance pool had no room left (a limit the slots do not
/// cover, such as a component with more memories than the average).
fn pool_exhausted(error: &wasmtime::Error) -> Option<CallError> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<wasmtime::PoolConcurrencyLimitError>())
        .map(|limit| CallError::PoolExhausted(limit.to_string()))
}

/// A one-line description of a trap, with the end of the guest's stderr
/// (where a Rust panic message lands).
fn trap_message(error: &wasmtime::Error, state: &NodeState) -> String {
    let mut message = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => error
            .chain()
            .map(|cause| cause.to_string())
            .find(|text| !text.starts_with("error while executing"))
            .unwrap_or_else(|| error.to_string()),
    };
    if let Some(tail) = state.stderr_tail() {
        message.push_str(&format!(" (stderr: {tail})"));
    }
    message
}
