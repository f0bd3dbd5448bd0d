//! What a step changed, as an RFC 6902 JSON Patch (`history --diff`, `GET
//! /runs/{id}/history?diff=1`): the one translation of the store's [`KeyChange`]s into
//! patch operations, so that the CLI and the API show a step's diff the same way.
//!
//! The patch is small where the change is: an `append` reducer's new items are `add`s
//! at `/key/-`, a changed field of an object is a `replace` of that field, not of the
//! whole value. Applied in order to the state before the step, it gives the state after.

use serde::Serialize;
use serde_json::Value;

use savepoint_store::KeyChange;

/// One operation of a JSON Patch: `{op, path, value?}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchOp {
    pub op: Op,
    /// An RFC 6901 JSON Pointer (`/key/0/name`; `~` written `~0`, `/` written `~1`).
    pub path: String,
    /// The value added or put in place; none for `remove`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// The operations a state diff uses (RFC 6902 has `move`, `copy` and `test` too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Add,
    Remove,
    Replace,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Replace => "replace",
        }
    }
}

/// The JSON Patch that takes the state before a step to the state after it, from the
/// keys the step wrote (each key's operations in the order the step wrote the keys).
pub fn json_patch(changes: &[KeyChange]) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    for change in changes {
        let path = format!("/{}", escape(&change.key));
        match &change.before {
            None => ops.push(op(Op::Add, path, Some(&change.after))),
            Some(before) => diff(&path, before, &change.after, &mut ops),
        }
    }
    ops
}

fn op(op: Op, path: String, value: Option<&Value>) -> PatchOp {
    PatchOp {
        op,
        path,
        value: value.cloned(),
    }
}

/// The operations that make `before` (at `path`) into `after`.
fn diff(path: &str, before: &Value, after: &Value, ops: &mut Vec<PatchOp>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            for key in old.keys().filter(|key| !new.contains_key(*key)) {
                ops.push(op(Op::Remove, format!("{path}/{}", escape(key)), None));
            }
            for (key, value) in new {
                let at = format!("{path}/{}", escape(key));
                match old.get(key) {
                    None => ops.push(op(Op::Add, at, Some(value))),
                    Some(was) => diff(&at, was, value, ops),
                }
            }
        }
        (Value::Array(old), Value::Array(new)) if new.starts_with(old) => {
            // What an `append` reducer does: new items at the end.
            for item in &new[old.len()..] {
                ops.push(op(Op::Add, format!("{path}/-"), Some(item)));
            }
        }
        (Value::Array(old), Value::Array(new)) if old.len() == new.len() => {
            for (i, (was, value)) in old.iter().zip(new).enumerate() {
                diff(&format!("{path}/{i}"), was, value, ops);
            }
        }
        _ => ops.push(op(Op::Replace, path.to_string(), Some(after))),
    }
}

/// A key as a JSON Pointer reference token (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    fn change(key: &str, before: Option<Value>, after: Value) -> KeyChange {
        KeyChange {
            key: key.to_string(),
            before,
            after,
        }
    }

    /// RFC 6902 application of the operations this module makes, for the tests.
    fn apply(state: &mut Value, ops: &[PatchOp]) {
        for op in ops {
            let tokens: Vec<String> = op.path[1..]
                .split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect();
            let (last, parents) = tokens.split_last().unwrap();
            let mut at = &mut *state;
            for token in parents {
                at = match at {
                    Value::Object(map) => map.get_mut(token).unwrap(),
                    Value::Array(items) => &mut items[token.parse::<usize>().unwrap()],
                    other => panic!("no {token} in {other}"),
                };
            }
            let value = op.value.clone();
            match (at, op.op) {
                (Value::Object(map), Op::Remove) => {
                    map.remove(last).unwrap();
                }
                (Value::Object(map), Op::Add | Op::Replace) => {
                    map.insert(last.clone(), value.unwrap());
                }
                (Value::Array(items), Op::Add) if last == "-" => items.push(value.unwrap()),
                (Value::Array(items), Op::Replace) => {
                    items[last.parse::<usize>().unwrap()] = value.unwrap()
                }
                (other, op) => panic!("cannot {op:?} {last} in {other}"),
            }
        }
    }

    fn patch_json(changes: &[KeyChange]) -> Value {
        serde_json::to_value(json_patch(changes)).unwrap()
    }

    #[test]
    fn a_new_key_is_added_and_a_changed_scalar_replaced() {
        let changes = [
            change("count", Some(json!(1)), json!(2)),
            change("fresh", None, json!({ "a": 1 })),
        ];
        assert_eq!(
            patch_json(&changes),
            json!([
                { "op": "replace", "path": "/count", "value": 2 },
                { "op": "add", "path": "/fresh", "value": { "a": 1 } },
            ])
        );
    }

    #[test]
    fn appended_items_are_adds_at_the_end_and_objects_change_field_by_field() {
        let changes = [
            change("log", Some(json!(["a"])), json!(["a", "b", "c"])),
            change(
                "doc",
                Some(json!({ "title": "x", "gone": 1, "n": { "k": [1, 2] } })),
                json!({ "title": "y", "n": { "k": [1, 3] }, "new": null }),
            ),
        ];
        assert_eq!(
            patch_json(&changes),
            json!([
                { "op": "add", "path": "/log/-", "value": "b" },
                { "op": "add", "path": "/log/-", "value": "c" },
                { "op": "remove", "path": "/doc/gone" },
                { "op": "replace", "path": "/doc/title", "value": "y" },
                { "op": "replace", "path": "/doc/n/k/1", "value": 3 },
                { "op": "add", "path": "/doc/new", "value": null },
            ])
        );
    }

    #[test]
    fn keys_are_escaped_as_json_pointers() {
        let changes = [change("a/b~c", None, json!(1))];
        assert_eq!(json_patch(&changes)[0].path, "/a~1b~0c");
    }

    #[test]
    fn an_unchanged_value_has_no_operation() {
        assert!(json_patch(&[change("same", Some(json!([1])), json!([1]))]).is_empty());
    }

    /// Applied to the state before, the patch gives the state after, whatever the shapes.
    #[test]
    fn the_patch_takes_the_state_before_to_the_state_after() {
        let values = [
            json!(null),
            json!(1),
            json!("text"),
            json!([]),
            json!([1, 2]),
            json!([1, 2, 3]),
            json!([2, 1]),
            json!({}),
            json!({ "a": 1 }),
            json!({ "a": [1, { "b": 2 }], "c/d": "~" }),
            json!({ "a": [1, { "b": 3 }, 4] }),
            json!({ "a": [0, { "b": 2 }] }),
        ];
        for before in &values {
            for after in &values {
                let changes = [
                    change("k", Some(before.clone()), after.clone()),
                    change("new", None, after.clone()),
                ];
                let mut state = Value::Object(Map::from_iter([("k".to_string(), before.clone())]));
                apply(&mut state, &json_patch(&changes));
                assert_eq!(
                    state,
                    json!({ "k": after, "new": after }),
                    "{before} -> {after}"
                );
            }
        }
    }
}
