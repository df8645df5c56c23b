//! Checks JSON against Heroku's published Platform API schema (the subset of JSON Schema
//! that schema uses: $ref, type, properties, required, additionalProperties, items, enum,
//! anyOf), so the fake API refuses what the real one would.

use serde_json::Value;

pub struct Schema {
    root: Value,
}

impl Schema {
    pub fn load() -> Schema {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/heroku/platform-api-schema.json"
        );
        let text = std::fs::read_to_string(path).expect("the Heroku schema fixture");
        Schema {
            root: serde_json::from_str(&text).expect("valid JSON"),
        }
    }

    /// The request schema of `resource`'s link titled `title` (e.g. formation, "Batch Update").
    pub fn link(&self, resource: &str, title: &str) -> &Value {
        self.root["definitions"][resource]["links"]
            .as_array()
            .and_then(|links| links.iter().find(|l| l["title"] == title))
            .map(|l| &l["schema"])
            .unwrap_or_else(|| panic!("no link {resource}/{title} in the schema"))
    }

    pub fn definition(&self, resource: &str) -> &Value {
        &self.root["definitions"][resource]
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let mut current = schema;
        while let Some(reference) = current.get("$ref").and_then(Value::as_str) {
            let mut target = &self.root;
            for part in reference.trim_start_matches("#/").split('/') {
                target = &target[part];
            }
            current = target;
        }
        current
    }

    /// Every way `value` breaks `schema`; `extra` names properties allowed beyond it
    /// (Heroku's `docker_image`, accepted by the docker-releases variant only).
    pub fn violations(&self, schema: &Value, value: &Value, path: &str, extra: &[&str]) -> Vec<String> {
        let schema = self.resolve(schema);
        let mut found = Vec::new();
        if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
            if !options
                .iter()
                .any(|option| self.violations(option, value, path, extra).is_empty())
            {
                found.push(format!("{path}: matches none of anyOf"));
            }
            return found;
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let actual = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
            if !ok {
                found.push(format!("{path}: is {actual}, schema wants {types:?}"));
                return found;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                found.push(format!("{path}: {value} is not one of {allowed:?}"));
            }
        }
        if let (Some(object), Some(properties)) =
            (value.as_object(), schema.get("properties").and_then(Value::as_object))
        {
            for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                if let Some(name) = required.as_str() {
                    if !object.contains_key(name) {
                        found.push(format!("{path}: missing required {name}"));
                    }
                }
            }
            let closed = schema.get("additionalProperties") == Some(&Value::Bool(false))
                || schema.get("strictProperties") == Some(&Value::Bool(true));
            for (name, item) in object {
                match properties.get(name) {
                    Some(property) => found.extend(self.violations(property, item, &format!("{path}.{name}"), extra)),
                    None if closed && !extra.contains(&name.as_str()) => {
                        found.push(format!("{path}: unexpected property {name}"))
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (index, item) in array.iter().enumerate() {
                found.extend(self.violations(items, item, &format!("{path}[{index}]"), extra));
            }
        }
        found
    }
}
