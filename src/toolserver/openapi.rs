//! An OpenAPI document read as a set of tools: every operation that has an
//! `operationId` is offered to the model as a function of that name, and a
//! call of it is turned back into the HTTP request the operation describes.
//!
//! Pure functions over `serde_json::Value`; the fetching and calling happen
//! in the parent module.

use serde_json::{json, Map, Value};

/// The keys of a path item that are operations.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// How many schema nodes resolving one document's `$ref`s may produce. A
/// hostile document can make references fan out exponentially; past this the
/// rest resolves to `{}`.
const RESOLVE_BUDGET: usize = 20_000;

/// A schema with its `$ref`s replaced by what they name in `components`.
/// A reference already being expanded on the way down (a cycle) becomes `{}`.
pub fn resolve(schema: &Value, components: &Value) -> Value {
    let mut budget = RESOLVE_BUDGET;
    resolve_in(schema, components, &mut Vec::new(), &mut budget)
}

fn resolve_in(
    schema: &Value,
    components: &Value,
    open: &mut Vec<String>,
    budget: &mut usize,
) -> Value {
    let Some(obj) = schema.as_object() else {
        return if schema.is_null() {
            json!({})
        } else {
            schema.clone()
        };
    };
    if obj.is_empty() || *budget == 0 {
        return json!({});
    }
    *budget -= 1;
    if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or("").to_string();
        if open.contains(&name) {
            return json!({});
        }
        // "#/components/schemas/X": the first part names `components` itself.
        let mut target = components;
        for part in reference.trim_start_matches(['#', '/']).split('/').skip(1) {
            target = target.get(part).unwrap_or(&Value::Null);
        }
        open.push(name);
        let out = resolve_in(target, components, open, budget);
        open.pop();
        return out;
    }
    let mut out = obj.clone();
    if let Some(Value::Object(props)) = out.get_mut("properties") {
        for v in props.values_mut() {
            *v = resolve_in(v, components, open, budget);
        }
    }
    if let Some(items) = out.get_mut("items") {
        *items = resolve_in(items, components, open, budget);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(list)) = out.get_mut(key) {
            for v in list.iter_mut() {
                *v = resolve_in(v, components, open, budget);
            }
        }
    }
    Value::Object(out)
}

/// The parameters of an operation: those of its path item, overridden by the
/// operation's own of the same name and location, in declaration order.
fn merged_parameters<'a>(path_item: &'a Map<String, Value>, op: &'a Value) -> Vec<&'a Value> {
    let mut out: Vec<((&str, &str), &Value)> = Vec::new();
    let lists = [path_item.get("parameters"), op.get("parameters")];
    for list in lists.into_iter().flatten().filter_map(Value::as_array) {
        for p in list {
            let Some(name) = p
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            else {
                continue;
            };
            let key = (name, p.get("in").and_then(Value::as_str).unwrap_or(""));
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = p,
                None => out.push((key, p)),
            }
        }
    }
    out.into_iter().map(|(_, p)| p).collect()
}

/// Every (path, path item, method, operation) of the document.
fn operations(doc: &Value) -> impl Iterator<Item = (&str, &Map<String, Value>, &str, &Value)> {
    doc.get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(path, item)| Some((path.as_str(), item.as_object()?)))
        .flat_map(|(path, item)| {
            item.iter()
                .filter(|(m, op)| METHODS.contains(&m.as_str()) && op.is_object())
                .map(move |(m, op)| (path, item, m.as_str(), op))
        })
}

fn text_of(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The function specs (`name`, `description`, `parameters`) of a document.
pub fn tools_of(doc: &Value) -> Vec<Value> {
    let components = doc.get("components").cloned().unwrap_or(json!({}));
    let mut tools = Vec::new();
    for (_, item, _, op) in operations(doc) {
        let Some(name) = text_of(op.get("operationId")) else {
            continue;
        };
        let description = text_of(op.get("description"))
            .or_else(|| text_of(op.get("summary")))
            .unwrap_or("No description available.");
        let mut props = Map::new();
        let mut required: Vec<Value> = Vec::new();
        for p in merged_parameters(item, op) {
            let pname = p["name"].as_str().unwrap_or_default();
            let schema = p.get("schema").cloned().unwrap_or(json!({}));
            let mut desc = text_of(schema.get("description"))
                .or_else(|| text_of(p.get("description")))
                .unwrap_or("")
                .to_string();
            if let Some(values) = schema.get("enum").and_then(Value::as_array) {
                if !values.is_empty() {
                    let shown: Vec<String> = values
                        .iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                        .collect();
                    desc.push_str(&format!(". Possible values: {}", shown.join(", ")));
                }
            }
            let kind = text_of(schema.get("type")).unwrap_or("string");
            let mut prop = json!({"type": kind, "description": desc});
            if kind == "array" {
                if let Some(items) = schema.get("items") {
                    prop["items"] = items.clone();
                }
            }
            props.insert(pname.to_string(), prop);
            if p.get("required").and_then(Value::as_bool) == Some(true) {
                required.push(json!(pname));
            }
        }
        let mut parameters = json!({"type": "object", "properties": props, "required": required});
        if let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") {
            let body = resolve(schema, &components);
            match body.get("properties").and_then(Value::as_object) {
                Some(body_props) if !body_props.is_empty() => {
                    let p = parameters["properties"]
                        .as_object_mut()
                        .expect("built above");
                    for (k, v) in body_props {
                        p.insert(k.clone(), v.clone());
                    }
                    if let Some(req) = body.get("required").and_then(Value::as_array) {
                        let list = parameters["required"].as_array_mut().expect("built above");
                        for r in req {
                            if !list.contains(r) {
                                list.push(r.clone());
                            }
                        }
                    }
                }
                _ if body.get("type").and_then(Value::as_str) == Some("array") => {
                    parameters = body;
                }
                _ => {}
            }
        }
        clean(&mut parameters);
        tools.push(json!({"name": name, "description": description, "parameters": parameters}));
    }
    tools
}

/// Schema tidying providers need: `anyOf` with a lone non-null choice is
/// flattened, null defaults dropped, a missing `type` becomes `string`.
fn clean(schema: &mut Value) {
    let Some(o) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(choices)) = o.get("anyOf").cloned() {
        let kept: Vec<Value> = choices
            .into_iter()
            .filter(|c| c.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if let [only] = kept.as_slice() {
            o.remove("anyOf");
            if let Some(m) = only.as_object() {
                for (k, v) in m {
                    o.insert(k.clone(), v.clone());
                }
            }
        } else {
            o.insert("anyOf".into(), Value::Array(kept));
        }
    }
    if o.get("default") == Some(&Value::Null) {
        o.remove("default");
    }
    if !o.contains_key("type") && !o.contains_key("anyOf") && !o.contains_key("properties") {
        o.insert("type".into(), json!("string"));
    }
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        for v in props.values_mut() {
            clean(v);
        }
    }
    if let Some(items) = o.get_mut("items") {
        clean(items);
    }
}

/// One HTTP request a tool call stands for.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub method: String,
    pub url: String,
    /// The JSON body (sent for POST, PUT, PATCH and DELETE).
    pub body: Option<Value>,
}

/// Percent-encoding of everything but unreserved characters, for path
/// parameters.
pub(crate) fn encode_component(s: &str) -> String {
    percent_encode(s, b"-._~")
}

/// Percent-encoding of every byte but ASCII letters, digits and `keep`.
pub(crate) fn percent_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The request for a call of `name` with `args` on the server at `base`.
pub fn request_for(
    doc: &Value,
    base: &str,
    name: &str,
    args: &Map<String, Value>,
) -> Result<Request, String> {
    let (path, item, method, op) = operations(doc)
        .find(|(_, _, _, op)| op.get("operationId").and_then(Value::as_str) == Some(name))
        .ok_or_else(|| format!("the server has no operation named {name}"))?;
    let mut url = format!("{}{}", base.trim_end_matches('/'), path);
    let mut query: Vec<(String, String)> = Vec::new();
    let mut declared: Vec<&str> = Vec::new();
    for p in merged_parameters(item, op) {
        let pname = p["name"].as_str().unwrap_or_default();
        declared.push(pname);
        let Some(value) = args.get(pname) else {
            continue;
        };
        match p.get("in").and_then(Value::as_str) {
            Some("path") => {
                url = url.replace(&format!("{{{pname}}}"), &encode_component(&plain(value)));
            }
            Some("query") => {
                let required = p.get("required").and_then(Value::as_bool) == Some(true);
                if value.is_null() || (value.as_str() == Some("") && !required) {
                    continue;
                }
                match value {
                    Value::Array(list) => {
                        query.extend(list.iter().map(|v| (pname.to_string(), plain(v))))
                    }
                    v => query.push((pname.to_string(), plain(v))),
                }
            }
            _ => {}
        }
    }
    if !query.is_empty() {
        let mut parsed =
            reqwest::Url::parse(&url).map_err(|e| format!("bad tool URL {url}: {e}"))?;
        parsed.query_pairs_mut().extend_pairs(query);
        url = parsed.to_string();
    }
    let with_body = matches!(method, "post" | "put" | "patch" | "delete");
    let body = with_body.then(|| {
        let schema = op.pointer("/requestBody/content/application~1json/schema");
        let has_content = op
            .pointer("/requestBody/content")
            .is_some_and(|c| !c.is_null());
        if !has_content || args.is_empty() {
            return json!({});
        }
        let components = doc.get("components").cloned().unwrap_or(json!({}));
        let resolved = schema.map(|s| resolve(s, &components)).unwrap_or(json!({}));
        let composed = ["allOf", "anyOf", "oneOf"]
            .iter()
            .any(|k| resolved.get(k).is_some());
        let props = if composed {
            None
        } else {
            resolved
                .get("properties")
                .and_then(Value::as_object)
                .filter(|p| !p.is_empty())
        };
        let picked: Map<String, Value> = args
            .iter()
            .filter(|(k, _)| {
                props.is_none_or(|p| p.contains_key(*k) || !declared.contains(&k.as_str()))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Value::Object(picked)
    });
    Ok(Request {
        method: method.to_uppercase(),
        url,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "openapi": "3.1.0",
            "paths": {
                "/weather/{city}": {
                    "parameters": [{"name": "city", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "get": {
                        "operationId": "lookup_weather",
                        "summary": "Weather for a city",
                        "parameters": [
                            {"name": "units", "in": "query", "schema": {"type": "string", "enum": ["metric", "imperial"]}},
                            {"name": "days", "in": "query", "schema": {"type": "array", "items": {"type": "integer"}}}
                        ]
                    }
                },
                "/notes/{id}": {
                    "put": {
                        "operationId": "save_note",
                        "description": "Saves a note",
                        "parameters": [{"name": "id", "in": "path", "required": true}],
                        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Note"}}}}
                    },
                    "get": {"summary": "no operation id"}
                }
            },
            "components": {"schemas": {
                "Note": {"type": "object", "required": ["text"], "properties": {
                    "text": {"type": "string"},
                    "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}], "default": null},
                    "parent": {"$ref": "#/components/schemas/Note"}
                }}
            }}
        })
    }

    #[test]
    fn operations_become_tools() {
        let tools = tools_of(&doc());
        let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["lookup_weather", "save_note"]);
        let weather = &tools[0];
        assert_eq!(weather["description"], "Weather for a city");
        assert_eq!(weather["parameters"]["required"], json!(["city"]));
        assert_eq!(
            weather["parameters"]["properties"]["units"]["description"],
            ". Possible values: metric, imperial"
        );
        assert_eq!(
            weather["parameters"]["properties"]["days"]["items"]["type"],
            "integer"
        );
        let note = &tools[1]["parameters"];
        assert_eq!(note["required"], json!(["id", "text"]));
        assert_eq!(
            note["properties"]["tags"]["type"], "array",
            "nullable anyOf flattened"
        );
        assert!(note["properties"]["tags"].get("default").is_none());
        assert_eq!(
            note["properties"]["parent"],
            json!({"type": "string"}),
            "a cycle ends in an empty schema (typed as string by the clean-up)"
        );
    }

    #[test]
    fn calls_become_requests() {
        let args = json!({"city": "Oslo/Vest", "units": "", "days": [1, 2]});
        let r = request_for(
            &doc(),
            "http://h:1/",
            "lookup_weather",
            args.as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.url, "http://h:1/weather/Oslo%2FVest?days=1&days=2");
        assert_eq!(r.body, None);

        let args = json!({"id": 7, "text": "hi", "extra": true});
        let r = request_for(&doc(), "http://h:1", "save_note", args.as_object().unwrap()).unwrap();
        assert_eq!(
            (r.method.as_str(), r.url.as_str()),
            ("PUT", "http://h:1/notes/7")
        );
        assert_eq!(
            r.body,
            Some(json!({"text": "hi", "extra": true})),
            "the path parameter stays out of the body"
        );

        assert!(request_for(&doc(), "http://h", "nope", &Map::new()).is_err());
    }

    #[test]
    fn reference_fan_out_is_bounded() {
        let mut schemas = Map::new();
        for i in 0..30 {
            let next = format!("#/components/schemas/S{}", i + 1);
            let props: Map<String, Value> = (0..4)
                .map(|k| (format!("p{k}"), json!({"$ref": next})))
                .collect();
            schemas.insert(
                format!("S{i}"),
                json!({"type": "object", "properties": props}),
            );
        }
        let components = json!({"schemas": schemas});
        let out = resolve(&json!({"$ref": "#/components/schemas/S0"}), &components);
        assert!(out.to_string().len() < 10_000_000);
    }
}
