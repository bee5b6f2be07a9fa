//! Key casing on the way out: PowerShell objects use PascalCase property names.

use serde_json::Value;

/// Renames object keys from camelCase to PascalCase, recursively (`expiresOn` → `ExpiresOn`).
pub fn pascal_case(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let mut chars = key.chars();
                    let key = match chars.next() {
                        Some(first) => first.to_uppercase().chain(chars).collect(),
                        None => key,
                    };
                    (key, pascal_case(value))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(pascal_case).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn output_keys_become_pascal_case_recursively() {
        let v = pascal_case(
            json!({"expiresOn": 1, "error": {"errorId": "x"}, "list": [{"a": 1}], "Already": 2}),
        );
        assert_eq!(
            v,
            json!({"ExpiresOn": 1, "Error": {"ErrorId": "x"}, "List": [{"A": 1}], "Already": 2})
        );
    }
}
