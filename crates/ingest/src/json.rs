//! What the JSON decoders share: error mapping, RFC 3339 timestamps and label objects.

use crate::JsonError;
use serde_json::Value;

impl From<serde_json::Error> for JsonError {
    fn from(e: serde_json::Error) -> Self {
        let reason = strip_position(&e.to_string());
        if e.is_data() {
            JsonError::Envelope(format!(
                "{reason} (line {}, column {})",
                e.line(),
                e.column()
            ))
        } else {
            JsonError::Syntax {
                line: e.line(),
                column: e.column(),
                reason,
            }
        }
    }
}

/// serde_json appends " at line L column C" to its messages; the position is reported in
/// its own fields.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// An item-level serde error, without the position (which is relative to the item).
pub(crate) fn item_error(e: serde_json::Error) -> String {
    strip_position(&e.to_string())
}

/// Reads an RFC 3339 timestamp (`2025-07-26T10:30:00Z`, any offset, fractional seconds)
/// as Unix milliseconds.
pub(crate) fn parse_rfc3339_ms(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("invalid RFC 3339 timestamp {s:?}: {e}"))
}

/// The JSON type name of a value, for messages.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_offsets_and_fractions() {
        assert_eq!(parse_rfc3339_ms("2025-07-26T10:30:00Z"), Ok(1753525800000));
        assert_eq!(
            parse_rfc3339_ms("2025-07-26T12:30:00.250+02:00"),
            Ok(1753525800250)
        );
        assert!(parse_rfc3339_ms("2025-07-26 10:30").is_err());
        assert!(parse_rfc3339_ms("").is_err());
    }

    #[test]
    fn syntax_errors_name_the_position() {
        let e: JsonError = serde_json::from_str::<Value>("{\n  \"a\": tru }")
            .unwrap_err()
            .into();
        match e {
            JsonError::Syntax { line, column, .. } => assert_eq!((line, column), (2, 11)),
            other => panic!("{other:?}"),
        }
    }
}
