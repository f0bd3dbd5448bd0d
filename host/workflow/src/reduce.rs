//! Reducers: how a node's partial update is merged into the run's state.
//!
//! Each top-level key of the update is combined with the current value of that key
//! by the key's [`Reducer`]; keys absent from the update are left alone. Every key
//! is checked before any is written, so a failed update leaves the state unchanged.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use super::error::describe;
use super::{MergeError, Reducer, Side};

pub(super) fn apply(
    reducers: &BTreeMap<String, Reducer>,
    state: &mut Map<String, Value>,
    update: Map<String, Value>,
) -> Result<(), MergeError> {
    let reducer_of = |key: &str| reducers.get(key).copied().unwrap_or_default();

    // Pass 1: check types and compute sums, writing nothing.
    let mut sums = Vec::new();
    for (key, value) in &update {
        let reducer = reducer_of(key);
        let current = state.get(key).filter(|v| !v.is_null());
        let wrong = |side: Side, found: &Value| MergeError::WrongType {
            key: key.clone(),
            reducer,
            side,
            found: describe(found),
        };
        match reducer {
            Reducer::Replace => {}
            Reducer::Append => match current {
                Some(c) if !c.is_array() => return Err(wrong(Side::Current, c)),
                _ => {}
            },
            Reducer::Merge => {
                if !value.is_object() {
                    return Err(wrong(Side::Update, value));
                }
                match current {
                    Some(c) if !c.is_object() => return Err(wrong(Side::Current, c)),
                    _ => {}
                }
            }
            Reducer::Add => {
                let Value::Number(b) = value else {
                    return Err(wrong(Side::Update, value));
                };
                let a = match current {
                    None => &Number::from(0),
                    Some(Value::Number(a)) => a,
                    Some(c) => return Err(wrong(Side::Current, c)),
                };
                let sum = add(a, b).ok_or_else(|| MergeError::Overflow {
                    key: key.clone(),
                    current: a.to_string(),
                    update: b.to_string(),
                })?;
                sums.push(sum);
            }
        }
    }

    // Pass 2: write. Cannot fail.
    let mut sums = sums.into_iter();
    for (key, value) in update {
        let reducer = reducer_of(&key);
        let slot = state.entry(key).or_insert(Value::Null);
        match reducer {
            Reducer::Replace => *slot = value,
            Reducer::Append => {
                if slot.is_null() {
                    *slot = Value::Array(Vec::new());
                }
                if let Value::Array(items) = slot {
                    match value {
                        Value::Array(more) => items.extend(more),
                        one => items.push(one),
                    }
                }
            }
            Reducer::Merge => {
                if slot.is_null() {
                    *slot = Value::Object(Map::new());
                }
                if let (Value::Object(into), Value::Object(from)) = (slot, value) {
                    deep_merge(into, from);
                }
            }
            Reducer::Add => {
                if let Some(sum) = sums.next() {
                    *slot = Value::Number(sum);
                }
            }
        }
    }
    Ok(())
}

/// Objects merge key by key, recursively; any other value replaces.
fn deep_merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Object(inner)), Value::Object(more)) => deep_merge(inner, more),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// Integers add exactly (any mix of i64 and u64; the sum must fit in one of them);
/// otherwise as f64, which must stay finite. A number that is neither (an integer
/// beyond 64 bits, or a float beyond f64: the host keeps such numbers exact, digit
/// for digit, with serde_json's `arbitrary_precision`) is not added, rather than
/// rounded: `None`, so the update is refused.
fn add(a: &Number, b: &Number) -> Option<Number> {
    let fits = |n: &Number| n.is_i64() || n.is_u64() || n.is_f64();
    if !fits(a) || !fits(b) {
        return None;
    }
    fn int(n: &Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    if let (Some(x), Some(y)) = (int(a), int(b)) {
        let sum = x + y;
        return i64::try_from(sum)
            .map(Number::from)
            .or_else(|_| u64::try_from(sum).map(Number::from))
            .ok();
    }
    Number::from_f64(a.as_f64()? + b.as_f64()?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(reducer: Reducer, state: Value, update: Value) -> Result<Value, MergeError> {
        let reducers = BTreeMap::from([("k".to_owned(), reducer)]);
        let Value::Object(mut state) = state else {
            panic!("state must be an object")
        };
        let Value::Object(update) = update else {
            panic!("update must be an object")
        };
        apply(&reducers, &mut state, update).map(|()| Value::Object(state))
    }

    fn ok(reducer: Reducer, state: Value, update: Value) -> Value {
        run(reducer, state, update).unwrap()
    }

    fn err(reducer: Reducer, state: Value, update: Value) -> String {
        run(reducer, state, update).unwrap_err().to_string()
    }

    #[test]
    fn keys_absent_from_update_are_unchanged() {
        let out = ok(Reducer::Add, json!({"k": 1, "other": "x"}), json!({}));
        assert_eq!(out, json!({"k": 1, "other": "x"}));
    }

    #[test]
    fn replace_sets_anything() {
        assert_eq!(
            ok(Reducer::Replace, json!({"k": [1]}), json!({"k": "s"})),
            json!({"k": "s"})
        );
        assert_eq!(
            ok(Reducer::Replace, json!({}), json!({"k": null})),
            json!({"k": null})
        );
        // Keys without a reducer replace too.
        let out = ok(Reducer::Add, json!({"o": 1}), json!({"o": {"a": 1}}));
        assert_eq!(out, json!({"o": {"a": 1}}));
    }

    #[test]
    fn append_extends_or_pushes() {
        assert_eq!(
            ok(Reducer::Append, json!({}), json!({"k": 1})),
            json!({"k": [1]})
        );
        assert_eq!(
            ok(Reducer::Append, json!({"k": null}), json!({"k": [1, 2]})),
            json!({"k": [1, 2]})
        );
        assert_eq!(
            ok(Reducer::Append, json!({"k": [0]}), json!({"k": [1, 2]})),
            json!({"k": [0, 1, 2]})
        );
        assert_eq!(
            ok(Reducer::Append, json!({"k": [0]}), json!({"k": {"a": 1}})),
            json!({"k": [0, {"a": 1}]})
        );
    }

    #[test]
    fn append_needs_an_array() {
        assert_eq!(
            err(Reducer::Append, json!({"k": "x"}), json!({"k": 1})),
            r#"key "k" uses reducer append, but the current value is a string ("x"); append needs the current value to be an array (or missing, or null)"#
        );
    }

    #[test]
    fn merge_is_deep() {
        let out = ok(
            Reducer::Merge,
            json!({"k": {"a": {"x": 1, "y": 2}, "b": [1], "c": 1}}),
            json!({"k": {"a": {"y": 3, "z": 4}, "b": [2], "d": null}}),
        );
        assert_eq!(
            out,
            json!({"k": {"a": {"x": 1, "y": 3, "z": 4}, "b": [2], "c": 1, "d": null}})
        );
        assert_eq!(
            ok(Reducer::Merge, json!({}), json!({"k": {"a": 1}})),
            json!({"k": {"a": 1}})
        );
        assert_eq!(
            ok(Reducer::Merge, json!({"k": null}), json!({"k": {}})),
            json!({"k": {}})
        );
    }

    #[test]
    fn merge_needs_objects() {
        assert_eq!(
            err(Reducer::Merge, json!({}), json!({"k": [1]})),
            r#"key "k" uses reducer merge, but the update is an array ([1]); merge needs objects"#
        );
        assert_eq!(
            err(Reducer::Merge, json!({"k": 3}), json!({"k": {}})),
            r#"key "k" uses reducer merge, but the current value is a number (3); merge needs objects"#
        );
    }

    #[test]
    fn add_numbers() {
        assert_eq!(
            ok(Reducer::Add, json!({}), json!({"k": 2})),
            json!({"k": 2})
        );
        assert_eq!(
            ok(Reducer::Add, json!({"k": null}), json!({"k": -2})),
            json!({"k": -2})
        );
        assert_eq!(
            ok(Reducer::Add, json!({"k": 40}), json!({"k": 2})),
            json!({"k": 42})
        );
        assert_eq!(
            ok(Reducer::Add, json!({"k": 1}), json!({"k": 0.5})),
            json!({"k": 1.5})
        );
        assert_eq!(
            ok(Reducer::Add, json!({"k": u64::MAX - 1}), json!({"k": 1})),
            json!({"k": u64::MAX})
        );
        assert_eq!(
            ok(Reducer::Add, json!({"k": u64::MAX}), json!({"k": -1})),
            json!({"k": u64::MAX - 1})
        );
        assert_eq!(
            ok(Reducer::Add, json!({"k": i64::MAX}), json!({"k": 1})),
            json!({"k": i64::MAX as u64 + 1})
        );
    }

    #[test]
    fn add_needs_numbers() {
        assert_eq!(
            err(Reducer::Add, json!({"k": 1}), json!({"k": "x"})),
            r#"key "k" uses reducer add, but the update is a string ("x"); add needs numbers"#
        );
        assert_eq!(
            err(Reducer::Add, json!({"k": true}), json!({"k": 1})),
            r#"key "k" uses reducer add, but the current value is a boolean (true); add needs numbers"#
        );
    }

    #[test]
    fn add_overflow_is_an_error() {
        let e = run(Reducer::Add, json!({"k": u64::MAX}), json!({"k": 1})).unwrap_err();
        assert!(matches!(e, MergeError::Overflow { .. }));
        assert_eq!(
            e.to_string(),
            format!(
                "key \"k\" uses reducer add, but {} + 1 does not fit in a JSON number (i64, u64 or finite f64)",
                u64::MAX
            )
        );
        let e = run(Reducer::Add, json!({"k": i64::MIN}), json!({"k": -1})).unwrap_err();
        assert!(matches!(e, MergeError::Overflow { .. }));
        let e = run(Reducer::Add, json!({"k": 1e308}), json!({"k": 1e308})).unwrap_err();
        assert!(matches!(e, MergeError::Overflow { .. }));
    }

    #[test]
    fn big_numbers_stay_exact_and_add_refuses_them() {
        let big: Value = serde_json::from_str("123456789012345678901234567890").unwrap();
        let state = ok(Reducer::Replace, json!({}), json!({"k": big.clone()}));
        assert_eq!(state.to_string(), r#"{"k":123456789012345678901234567890}"#);
        let e = run(Reducer::Add, json!({"k": big.clone()}), json!({"k": 1})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "key \"k\" uses reducer add, but 123456789012345678901234567890 + 1 does not fit in a JSON number (i64, u64 or finite f64)"
        );
        let e = run(Reducer::Add, json!({"k": 0.5}), json!({"k": big})).unwrap_err();
        assert!(matches!(e, MergeError::Overflow { .. }));
        let huge: Value = serde_json::from_str("1e400").unwrap();
        let e = run(Reducer::Add, json!({"k": 1.0}), json!({"k": huge})).unwrap_err();
        assert!(matches!(e, MergeError::Overflow { .. }));
    }

    #[test]
    fn failed_update_leaves_state_unchanged() {
        let reducers = BTreeMap::from([
            ("n".to_owned(), Reducer::Add),
            ("log".to_owned(), Reducer::Append),
        ]);
        let Value::Object(mut state) = json!({"n": 1, "log": ["a"]}) else {
            unreachable!()
        };
        let before = state.clone();
        let Value::Object(update) = json!({"log": "b", "n": "oops"}) else {
            unreachable!()
        };
        assert!(apply(&reducers, &mut state, update).is_err());
        assert_eq!(state, before);
    }
}
