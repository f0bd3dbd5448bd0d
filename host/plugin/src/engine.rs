//! The wasmtime [`Engine`]: async calls, epoch interruption, fuel metering,
//! copy-on-write memory images, and the pooling instance allocator sized for
//! every node we run.
//!
//! # Why these numbers
//!
//! Measured on the example `counter` nodes (wasmtime 48, x86-64 Linux):
//!
//! | component | core instances | memories | tables | largest table (min) | initial memory | instance metadata |
//! |---|---|---|---|---|---|---|
//! | Rust (wasm32-wasip2) | 3 | 1 | 2 | 93 | 17 pages | 7 KiB |
//! | C (wasi-libc) | 5 | 1 | 2 | 18 | 17 pages | 7 KiB |
//! | JavaScript (componentize-js) | 4 | 1 | 2 | 7,689 | 145 pages | 203 KiB |
//! | Python (componentize-py) | 14 | 1 | 2 | 5,672 | 199 pages | 390 KiB |
//!
//! The pool holds [`INSTANCES`] component instances: `savepoint serve` runs
//! 64 node calls at once by default, the benchmark 100 runs at once, and idle
//! warm instances (`reuse = true`) and `describe()` calls hold a slot too. Every
//! other count is sized so that it never runs out before the component count
//! does for the components above, with room for bigger ones (a Python node
//! with native libraries, a composed component with a second memory):
//!
//! - core instances: 32 per component (Python needs 14), [`INSTANCES`] x 32 in
//!   all; metadata up to 2 MiB per core instance and 4 MiB per component
//!   (Python needs 390 KiB). These are counted, not reserved.
//! - memories: 4 per component, 2 per module, 2 per instance on average
//!   (1,024); each may grow to 4 GiB, the largest `memory` a workflow may set
//!   (our `Limiter` still enforces each node's own limit). Each slot reserves
//!   4 GiB plus guard pages of address space (about 4 TiB in all, of the 128
//!   TiB a 64-bit Linux process has), committed only as a node touches it.
//! - tables: 8 per component, 4 per module, 4 per instance on average (2,048),
//!   each up to [`TABLE_ELEMENTS`] (131,072) elements, 17x the largest seen:
//!   1 MiB of address space per table.
//! - async stacks: one per instance ([`INSTANCES`]).
//! - after a call, the first 1 MiB of a memory (and 64 KiB of a table) is reset
//!   in place (only the pages the call dirtied, found with `PAGEMAP_SCAN` where
//!   the kernel has it) instead of being unmapped, so the next instance of the
//!   same node does not page-fault it back in. A fresh instance + call, in a
//!   loop (release build): Rust 43 us on-demand, 24 us with the pool alone, 9
//!   us with this reset; JavaScript 0.71 ms -> 0.31 ms; Python 1.67 ms -> 1.30
//!   ms (its remaining cost is initializing 14 dynamically linked core
//!   instances and the first call's work inside the interpreter, which
//!   `reuse = true` avoids: a warm call is 0.03 ms).
//!
//! When the pool cannot be reserved (a virtual address space limit such as
//! `ulimit -v`, a small address space), the engine falls back to wasmtime's
//! on-demand allocator and says so once (a warning in the log).
//!
//! Copy-on-write: componentize-py and componentize-js put their snapshotted
//! heap into data segments at constant offsets of the one memory the main
//! module defines, so wasmtime maps it from the compiled file instead of
//! copying it (Python: 11.4 MiB of image, instantiation 0.5 ms instead of 5
//! ms; JavaScript: 0.03 ms instead of 1.3 ms). The JavaScript image is sparse
//! (2.6 MiB of data over 8 MiB), under wasmtime's density rule; it gets an
//! image only because it is smaller than `memory_guaranteed_dense_image_size`.
//! That threshold is raised from 16 MiB to [`DENSE_IMAGE`] so that a bigger
//! JavaScript or Python node does not silently lose copy-on-write (the cost: a
//! sparse image is stored with its holes in the compile cache).
//!
//! # Two compilers
//!
//! Cranelift (the optimizing compiler) takes 10 to 25 s for an 18 MB Python
//! or 12 MB JavaScript component on a 2-core machine; Winch (wasmtime's
//! baseline compiler, one pass, no optimization) takes about a fifth of that (bench/RESULTS.md).
//! So a component of [`WINCH_FROM`] bytes or more is compiled with Winch first,
//! runs on that code, and is compiled again with Cranelift in the background
//! (`tier.rs`). Each compiler has an engine of its own (a component's code
//! runs only in the engine that compiled it). The Winch engine allocates
//! instances on demand instead of from a second pool: it serves a component
//! only until Cranelift is done, and a second pool would reserve another
//! 4 TiB of address space (and fail where the first barely fits).

use std::sync::Once;

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy,
};

pub use super::sandbox::TABLE_ELEMENTS;

/// Component instances the pool holds at once (live calls, `describe()`
/// calls and idle warm instances together).
pub const INSTANCES: u32 = 512;
/// Initialized-memory span up to which a memory image is always built for
/// copy-on-write initialization, however sparse.
const DENSE_IMAGE: u64 = 64 << 20;
/// The largest linear memory a node may have: all a 32-bit memory addresses
/// (the workflow file's largest `memory`).
const MAX_MEMORY: usize = savepoint_base::limits::MAX_MEMORY as usize;

/// Components this large or larger are compiled with Winch first. The Rust
/// and C nodes (under 0.2 MB) compile with Cranelift in well under a second,
/// where a second compile would only cost; the interpreters (Python 18.5 MB,
/// JavaScript 12 MB) are bundles of an interpreter and a snapshot, whose
/// Cranelift compile is what a user waits for. 1 MB sits between the two by
/// two orders of magnitude (a Cranelift compile of 1 MB of code takes about
/// a second here).
pub const WINCH_FROM: u64 = 1 << 20;

/// Which compiler made a component's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compiler {
    /// wasmtime's baseline compiler: fast to compile, slower code.
    Winch,
    /// wasmtime's optimizing compiler.
    Cranelift,
}

impl Compiler {
    pub fn as_str(self) -> &'static str {
        match self {
            Compiler::Winch => "winch",
            Compiler::Cranelift => "cranelift",
        }
    }
}

/// One engine per compiler, configured alike otherwise.
#[derive(Clone)]
pub struct Engines {
    cranelift: Engine,
    winch: Engine,
}

impl Engines {
    /// The Cranelift engine with the pooling allocator (see [`new`]), and the
    /// Winch engine with the on-demand allocator.
    pub fn new() -> wasmtime::Result<Engines> {
        let mut winch = config();
        winch.strategy(Strategy::Winch);
        Ok(Engines {
            cranelift: new()?,
            winch: Engine::new(&winch)?,
        })
    }

    /// The engine of `compiler`.
    pub fn get(&self, compiler: Compiler) -> &Engine {
        match compiler {
            Compiler::Winch => &self.winch,
            Compiler::Cranelift => &self.cranelift,
        }
    }
}

/// An engine with the pooling allocator, or with the on-demand allocator when
/// the pool cannot be reserved.
pub fn new() -> wasmtime::Result<Engine> {
    let mut pooled = config();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool()));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                tracing::warn!(
                    "cannot reserve the instance pool ({error:#}); using on-demand instance \
                     allocation instead (each node call starts slower)"
                );
            });
            Engine::new(&config())
        }
    }
}

/// What every engine has, whatever its allocator.
fn config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    // Fuel is always metered so that a node's `fuel` budget can apply;
    // a node without one gets an unlimited tank.
    config.consume_fuel(true);
    config.wasm_component_model(true);
    config.memory_init_cow(true);
    config.memory_guaranteed_dense_image_size(DENSE_IMAGE);
    config
}

/// The pooling allocator's limits (see the module documentation for why).
fn pool() -> PoolingAllocationConfig {
    const CORE_PER_COMPONENT: u32 = 32;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(INSTANCES)
        .max_component_instance_size(4 << 20)
        .max_core_instances_per_component(CORE_PER_COMPONENT)
        .total_core_instances(INSTANCES * CORE_PER_COMPONENT)
        .max_core_instance_size(2 << 20)
        .max_memories_per_component(4)
        .max_memories_per_module(2)
        .total_memories(INSTANCES * 2)
        .max_memory_size(MAX_MEMORY)
        .max_tables_per_component(8)
        .max_tables_per_module(4)
        .total_tables(INSTANCES * 4)
        .table_elements(TABLE_ELEMENTS)
        .total_stacks(INSTANCES)
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto);
    pool
}
