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
