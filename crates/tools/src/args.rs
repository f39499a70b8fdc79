//! Reading model-supplied arguments without trusting their shape.
//!
//! Models send missing fields, numbers as strings and the odd `null`; every
//! accessor returns a sentence the model can act on instead of panicking.

use serde_json::{Map, Value};

/// The arguments object of one call. `null` counts as an empty object,
/// because some providers send it for calls without arguments.
pub struct Args<'a> {
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Args<'a> {
    pub fn new(value: &'a Value) -> Result<Args<'a>, String> {
        match value {
            Value::Object(map) => Ok(Args { map: Some(map) }),
            Value::Null => Ok(Args { map: None }),
            other => Err(format!(
                "arguments must be a JSON object, got {}",
                kind(other)
            )),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        match self.map?.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    pub fn required_str(&self, key: &str) -> Result<&'a str, String> {
        self.optional_str(key)?
            .ok_or_else(|| format!("missing required argument '{key}' (string)"))
    }

    pub fn optional_str(&self, key: &str) -> Result<Option<&'a str>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!(
                "argument '{key}' must be a string, got {}",
                kind(other)
            )),
        }
    }

    /// `true`/`false`; `"true"`/`"false"` are accepted like quoted numbers.
    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(other) => Err(format!(
                "argument '{key}' must be true or false, got {}",
                kind(other)
            )),
        }
    }

    /// A non-negative integer; `"12"` is accepted because models quote
    /// numbers often enough that refusing would only waste a round trip.
    pub fn optional_u64(&self, key: &str) -> Result<Option<u64>, String> {
        let bad = |v: &Value| format!("argument '{key}' must be a non-negative integer, got {v}");
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| bad(v)),
            Some(v @ Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad(v)),
            Some(other) => Err(format!(
                "argument '{key}' must be a non-negative integer, got {}",
                kind(other)
            )),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A user-supplied string made safe and short for an error message: control
/// characters become `?` and anything past 200 characters is cut.
pub(crate) fn show(raw: &str) -> String {
    const MAX_CHARS: usize = 200;
    let mut out: String = raw
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if raw.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_and_missing_fields_become_sentences() {
        let v = json!({"path": 7, "offset": -1, "limit": "12", "n": null});
        let args = Args::new(&v).unwrap();
        assert_eq!(
            args.required_str("path").unwrap_err(),
            "argument 'path' must be a string, got a number"
        );
        assert_eq!(
            args.required_str("content").unwrap_err(),
            "missing required argument 'content' (string)"
        );
        assert_eq!(
            args.optional_u64("offset").unwrap_err(),
            "argument 'offset' must be a non-negative integer, got -1"
        );
        assert_eq!(args.optional_u64("limit").unwrap(), Some(12));
        assert_eq!(args.optional_u64("n").unwrap(), None);
    }

    #[test]
    fn null_is_an_empty_object_and_arrays_are_refused() {
        assert_eq!(
            Args::new(&Value::Null).unwrap().optional_str("path"),
            Ok(None)
        );
        assert_eq!(
            Args::new(&json!([1])).err().unwrap(),
            "arguments must be a JSON object, got an array"
        );
    }

    #[test]
    fn shown_strings_are_short_and_printable() {
        assert_eq!(show("a\nb\0c"), "a?b?c");
        let long = "x".repeat(500);
        assert_eq!(show(&long), format!("{}…", "x".repeat(200)));
    }
}
