//! JSON Schemas (draft 2020-12) generated from the Rust types. The committed
//! copies live in `schemas/`; a test fails when they drift from the code.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;

use crate::command::Submission;
use crate::event::Event;
use crate::policy::PolicyVersion;

/// Pretty JSON of the schema of `T`, with a trailing newline.
pub fn schema_json<T: JsonSchema>() -> String {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = generator.into_root_schema_for::<T>();
    let mut s = serde_json::to_string_pretty(&schema).expect("schemas serialise");
    s.push('\n');
    s
}

/// `(file name, schema)` for every domain type with a published schema.
pub fn domain_schemas() -> Vec<(&'static str, String)> {
    vec![
        ("event.schema.json", schema_json::<Event>()),
        ("submission.schema.json", schema_json::<Submission>()),
        ("policy-version.schema.json", schema_json::<PolicyVersion>()),
    ]
}

/// Schemas of the wire types as OpenAPI 3.1 components (JSON Schema
/// 2020-12, references under `#/components/schemas/`): `Submission`,
/// `PolicyVersion`, `Event` and everything they use.
pub fn openapi_components() -> serde_json::Map<String, serde_json::Value> {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let roots = [
        ("Submission", generator.subschema_for::<Submission>()),
        ("PolicyVersion", generator.subschema_for::<PolicyVersion>()),
        ("Event", generator.subschema_for::<Event>()),
    ];
    let mut defs = generator.take_definitions(true);
    for (name, schema) in roots {
        // A root that is itself a `$ref` is already in the definitions.
        if !defs.contains_key(name) {
            defs.insert(name.to_owned(), schema.to_value());
        }
    }
    defs
}
