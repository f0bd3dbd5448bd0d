//! Criterion micro-benchmarks of the pieces of one step, each with the W1
//! state (`{count, payload}`) at 100 B and 100 KB:
//!
//! - `instantiate_call`: a sandboxed instance of the Rust counter + its `run`
//!   call (`Plugin::call`), fresh (`fresh_*`) or a warm one kept by an earlier
//!   call (`reused_*`, `CallInput::reuse`); needs the component
//!   (target/wasm32-wasip2/guest/counter.wasm or plugins/counter.wasm) and is
//!   skipped with a message without it;
//! - `reducer_merge`: `Workflow::apply_update` of the counter's update;
//! - `checkpoint_encode`: what the store encodes before it queues a write
//!   (`savepoint_store::encode_checkpoint`): `change_*` the counter's change
//!   (`count`, the only key a W1 step writes), `input_*` the whole state as a
//!   run's input (the 100 KB payload is hashed: it is stored by digest); and
//!   `state_text_*` the whole state to JSON text, which every step sends to
//!   its node;
//! - `commit`: `CheckpointStore::commit_step` of the counter's change
//!   (`count`) on a temporary SQLite file whose run started with the state;
//!   one durable transaction per iteration, so this one measures the disk.
//!
//! `cargo bench -p savepoint-bench` runs them; `bench/run` does not.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use savepoint_plugin::{CallInput, Outcome, PluginHost};
use savepoint_store::{CheckpointStore, NewRun, RunStatus, SqliteStore, StepCommit, SystemClock};
use savepoint_workflow::Workflow;
use serde_json::{Map, Value, json};

const SIZES: [(&str, usize); 2] = [("100b", 100), ("100kb", 100_000)];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

fn state(size: usize) -> Map<String, Value> {
    let mut state = Map::new();
    state.insert("count".into(), json!(0));
    state.insert("payload".into(), json!("x".repeat(size)));
    state
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn instantiate_call(c: &mut Criterion) {
    let root = repo_root();
    let Some(component) = [
        root.join("target/wasm32-wasip2/guest/counter.wasm"),
        root.join("plugins/counter.wasm"),
    ]
    .into_iter()
    .find(|p| p.is_file()) else {
        eprintln!(
            "instantiate_call: skipped, no counter component (build it with \
             `SAVEPOINT_LANGS=rust scripts/build-plugins`)"
        );
        return;
    };
    let rt = runtime();
    let cache = tempfile::tempdir().expect("a temp dir");
    let host = PluginHost::new(Some(cache.path().to_path_buf())).expect("a wasmtime engine");
    let plugin = rt
        .block_on(host.load(&component))
        .result
        .expect("the counter loads");
    let input = |reuse: bool| CallInput {
        reuse,
        ..CallInput::new("bench", "n1", 1)
    };
    let mut group = c.benchmark_group("instantiate_call");
    for (instance, reuse) in [("fresh", false), ("reused", true)] {
        let input = input(reuse);
        for (name, size) in SIZES {
            let text = Value::Object(state(size)).to_string();
            group.bench_function(format!("{instance}_{name}"), |b| {
                b.iter(|| {
                    let output = rt.block_on(plugin.call(&input, text.clone()));
                    assert!(matches!(output.result, Ok(Outcome::Update { .. })));
                    black_box(output)
                })
            });
        }
    }
    group.finish();
}

fn reducer_merge(c: &mut Criterion) {
    let path = repo_root().join("examples/workflows/chain.toml");
    let text = std::fs::read_to_string(&path).expect("the chain workflow");
    let workflow = Workflow::parse("chain.toml", &text).expect("the chain parses");
    let mut group = c.benchmark_group("reducer_merge");
    for (name, size) in SIZES {
        let mut current = state(size);
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut update = Map::new();
                    update.insert("count".into(), json!(1));
                    update
                },
                |update| workflow.apply_update(&mut current, update).expect("merges"),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn checkpoint_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("checkpoint_encode");
    for (name, size) in SIZES {
        let state = state(size);
        let mut change = Map::new();
        change.insert("count".into(), json!(7));
        group.bench_function(format!("change_{name}"), |b| {
            b.iter(|| savepoint_store::encode_checkpoint(black_box(&change)).expect("encodes"))
        });
        group.bench_function(format!("input_{name}"), |b| {
            b.iter(|| savepoint_store::encode_checkpoint(black_box(&state)).expect("encodes"))
        });
        group.bench_function(format!("state_text_{name}"), |b| {
            b.iter(|| serde_json::to_string(black_box(&state)).expect("encodes"))
        });
    }
    group.finish();
}

fn commit(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut group = c.benchmark_group("commit");
    for (name, size) in SIZES {
        let store = SqliteStore::open(
            &dir.path().join(format!("{name}.db")),
            Arc::new(SystemClock),
        )
        .expect("the store opens");
        let thread = format!("bench-{name}");
        let text = "name = \"bench\"\nstart = \"n1\"\n".to_owned();
        rt.block_on(store.create_run(NewRun {
            parent: None,
            thread: thread.clone(),
            workflow_name: "bench".into(),
            workflow_digest: savepoint_base::digest::sha256(text.as_bytes()),
            workflow_text: text,
            workflow_path: "bench.toml".into(),
            input: state(size),
            next: vec!["n1".into()],
            lease: None,
            plugins: Default::default(),
            tags: Default::default(),
        }))
        .expect("the run is created");
        let mut step = 0;
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    step += 1;
                    let mut changes = Map::new();
                    changes.insert("count".into(), json!(step));
                    let mut whole = state(size);
                    whole.extend(changes.clone());
                    StepCommit {
                        consumed_signal: None,
                        send_inputs: Default::default(),
                        thread: thread.clone(),
                        step,
                        node: "n1".into(),
                        component_digest: "sha256:bench".into(),
                        changes,
                        state: whole,
                        next: vec!["n1".into()],
                        status: RunStatus::Running,
                        logs: Vec::new(),
                        owner: None,
                        joins: Default::default(),
                        wakes: 0,
                        wake_at_ms: None,
                    }
                },
                |commit| rt.block_on(store.commit_step(commit)).expect("commits"),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(
    step_path,
    instantiate_call,
    reducer_merge,
    checkpoint_encode,
    commit
);
criterion_main!(step_path);
