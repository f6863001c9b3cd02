//! Conditional routing queries: a small MongoDB-style language over `metadata.*` and
//! `params.*` (`$eq $ne $gt $gte $lt $lte $in $nin $regex $and $or`), as in Portkey's
//! conditional router.

use serde_json::{Map, Value};

/// What a query is evaluated against.
pub struct Facts<'a> {
    pub metadata: &'a std::collections::BTreeMap<String, String>,
    pub params: &'a Map<String, Value>,
}

impl Facts<'_> {
    fn lookup(&self, path: &str) -> Option<Value> {
        let (root, rest) = path.split_once('.')?;
        match root {
            "metadata" => self.metadata.get(rest).map(|s| Value::String(s.clone())),
            "params" => {
                let mut node = self.params.get(rest.split('.').next()?)?;
                for seg in rest.split('.').skip(1) {
                    node = node.get(seg)?;
                }
                Some(node.clone())
            }
            _ => None,
        }
    }
}

/// Why a condition query cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidQuery(pub String);

impl From<String> for InvalidQuery {
    fn from(s: String) -> Self {
        InvalidQuery(s)
    }
}

/// Checks a query's shape, so a typo fails when the config is loaded, not on some request.
pub fn validate(query: &Value) -> Result<(), InvalidQuery> {
    let Value::Object(map) = query else {
        return Err(format!("a condition query must be an object, not {query}").into());
    };
    for (key, value) in map {
        match key.as_str() {
            "$and" | "$or" => {
                let items = value
                    .as_array()
                    .ok_or_else(|| InvalidQuery(format!("{key} takes a list of queries")))?;
                for q in items {
                    validate(q)?;
                }
            }
            k if k.starts_with("metadata.") || k.starts_with("params.") => {
                if let Value::Object(ops) = value {
                    for (op, arg) in ops {
                        match op.as_str() {
                            "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte" => {}
                            "$in" | "$nin" if arg.is_array() => {}
                            "$in" | "$nin" => {
                                return Err(format!("{op} on {k} takes a list").into());
                            }
                            "$regex" => {
                                let pattern = arg.as_str().ok_or_else(|| {
                                    InvalidQuery(format!("$regex on {k} takes a string"))
                                })?;
                                regex::Regex::new(pattern)
                                    .map_err(|e| InvalidQuery(format!("$regex on {k}: {e}")))?;
                            }
                            other => return Err(format!("unknown operator {other} on {k}").into()),
                        }
                    }
                }
            }
            other => {
                return Err(format!(
                    "condition keys are metadata.<name>, params.<name>, $and or $or; not '{other}'"
                )
                .into());
            }
        }
    }
    Ok(())
}

/// Whether `query` holds for `facts`. Call [`validate`] first; an invalid part evaluates false.
pub fn matches(query: &Value, facts: &Facts<'_>) -> bool {
    let Value::Object(map) = query else {
        return false;
    };
    map.iter().all(|(key, value)| match key.as_str() {
        "$and" => value
            .as_array()
            .is_some_and(|qs| qs.iter().all(|q| matches(q, facts))),
        "$or" => value
            .as_array()
            .is_some_and(|qs| qs.iter().any(|q| matches(q, facts))),
        path => {
            let actual = facts.lookup(path);
            match value {
                Value::Object(ops) => ops
                    .iter()
                    .all(|(op, arg)| compare(op, actual.as_ref(), arg)),
                literal => actual.as_ref().is_some_and(|a| loosely_equal(a, literal)),
            }
        }
    })
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Metadata values are strings; compare `"5"` and `5` as equal so queries read naturally.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => match (a, b) {
            (Value::String(s), Value::Bool(t)) | (Value::Bool(t), Value::String(s)) => {
                s == &t.to_string()
            }
            _ => false,
        },
    }
}

fn compare(op: &str, actual: Option<&Value>, arg: &Value) -> bool {
    match op {
        "$eq" => actual.is_some_and(|a| loosely_equal(a, arg)),
        "$ne" => !actual.is_some_and(|a| loosely_equal(a, arg)),
        "$gt" | "$gte" | "$lt" | "$lte" => {
            let (Some(a), Some(b)) = (actual.and_then(as_number), as_number(arg)) else {
                return false;
            };
            match op {
                "$gt" => a > b,
                "$gte" => a >= b,
                "$lt" => a < b,
                _ => a <= b,
            }
        }
        "$in" => actual.is_some_and(|a| {
            arg.as_array()
                .is_some_and(|l| l.iter().any(|x| loosely_equal(a, x)))
        }),
        "$nin" => !actual.is_some_and(|a| {
            arg.as_array()
                .is_some_and(|l| l.iter().any(|x| loosely_equal(a, x)))
        }),
        "$regex" => match (actual, arg.as_str()) {
            (Some(Value::String(s)), Some(p)) => regex::Regex::new(p).is_ok_and(|r| r.is_match(s)),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn operators() {
        let metadata: BTreeMap<String, String> = [
            ("tier".to_string(), "pro".to_string()),
            ("seats".to_string(), "12".to_string()),
        ]
        .into();
        let params = json!({"temperature": 0.2, "model": "gpt-4o"})
            .as_object()
            .unwrap()
            .clone();
        let f = Facts {
            metadata: &metadata,
            params: &params,
        };
        let t = |q: Value| {
            validate(&q).unwrap();
            matches(&q, &f)
        };
        assert!(t(json!({"metadata.tier": {"$eq": "pro"}})));
        assert!(t(json!({"metadata.tier": "pro"})));
        assert!(t(json!({"metadata.seats": {"$gt": 10, "$lte": 12}})));
        assert!(!t(json!({"metadata.seats": {"$lt": 5}})));
        assert!(t(json!({"metadata.tier": {"$in": ["pro", "team"]}})));
        assert!(t(json!({"metadata.missing": {"$nin": ["x"]}})));
        assert!(t(json!({"metadata.missing": {"$ne": "x"}})));
        assert!(t(json!({"params.model": {"$regex": "^gpt-4"}})));
        assert!(t(
            json!({"$or": [{"metadata.tier": "free"}, {"params.temperature": {"$lt": 0.5}}]})
        ));
        assert!(!t(
            json!({"$and": [{"metadata.tier": "pro"}, {"params.temperature": {"$gt": 1}}]})
        ));
        assert!(validate(&json!({"tier": "pro"})).is_err());
        assert!(validate(&json!({"metadata.tier": {"$like": "p"}})).is_err());
        assert!(validate(&json!({"metadata.tier": {"$regex": "("}})).is_err());
    }
}
