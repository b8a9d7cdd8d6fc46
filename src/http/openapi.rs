//! The OpenAPI 3.1 document of the API, served at `GET /openapi.json` and
//! committed as `schemas/openapi.json` (a test fails when they differ).
//! Request schemas come from the Rust types (schemars, JSON Schema
//! 2020-12, which OpenAPI 3.1 uses as is); the paths below list every
//! route `router()` registers (a test calls each one).

use axum::Json;
use serde_json::{json, Value};

fn problem_responses(extra: &[(&str, &str)]) -> Value {
    let mut r = json!({
        "401": {"$ref": "#/components/responses/Problem"},
        "403": {"$ref": "#/components/responses/Problem"},
        "400": {"$ref": "#/components/responses/Problem"},
    });
    for (status, description) in extra {
        r[*status] = json!({"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    }
    r
}

fn op(
    summary: &str,
    scope: &str,
    body: Option<&str>,
    ok: (&str, Value),
    extra: &[(&str, &str)],
) -> Value {
    let mut o = json!({
        "summary": summary,
        "security": [{"apiKey": []}],
        "x-required-scope": scope,
        "responses": problem_responses(extra),
    });
    o["responses"][ok.0] =
        json!({"description": "success", "content": {"application/json": {"schema": ok.1}}});
    if let Some(schema) = body {
        for (status, description) in [
            ("408", "the body arrived too slowly (request_timeout)"),
            (
                "413",
                "the body is over 1 MiB (body_too_large), refused before reading when declared",
            ),
            (
                "415",
                "Content-Type is not application/json (json_required)",
            ),
        ] {
            o["responses"][status] = json!({"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
        }
        o["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    }
    o
}

fn with_params(mut op: Value, params: Value) -> Value {
    op["parameters"] = params;
    op
}

fn param(name: &str, place: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": place, "required": place == "path", "description": description, "schema": schema})
}

/// A query parameter the server cannot do without.
fn required(mut param: Value) -> Value {
    param["required"] = json!(true);
    param
}

/// A sequence number or tree size: what the server parses as `u64`.
fn number() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})
}

fn text() -> Value {
    json!({"type": "string"})
}

fn domain(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A consistency token as the server accepts it: the decimal sequence
/// number of an append (at most 19 digits).
fn token() -> Value {
    json!({"type": "string", "pattern": "^[0-9]{1,19}$", "description": "the `token` of an append's answer: answer only once that append is visible"})
}

/// The members of a check: the subject (by id or pseudonym), the purpose,
/// the data category and the instant.
fn check_properties() -> Value {
    json!({
        "subject": {"$ref": "#/components/schemas/SubjectId", "description": "the controller's subject id"},
        "pseudonym": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "the subject's pseudonym"},
        "purpose": {"$ref": "#/components/schemas/PurposeId"}, "data_category": {"$ref": "#/components/schemas/DataCategoryId"},
        "at": {"$ref": "#/components/schemas/Timestamp", "description": "default: now"},
    })
}

/// A check's object schema: `properties`, naming the subject by exactly
/// one of `subject` and `pseudonym`.
fn check_schema(what: &str, properties: Value) -> Value {
    json!({
        "type": "object",
        "description": format!("{what}; name the subject by exactly one of `subject` and `pseudonym`"),
        "required": ["purpose", "data_category"],
        "additionalProperties": false,
        "oneOf": [{"required": ["subject"]}, {"required": ["pseudonym"]}],
        "properties": properties,
    })
}

/// The whole document.
pub fn document() -> Value {
    let obj = json!({"type": "object"});
    let mut schemas = consent_domain::schema::openapi_components();
    let mut single_check = check_properties();
    single_check["token"] = token();
    single_check["receipt"] = json!({"type": "boolean", "description": "also return a receipt: the decision and the checkpoint it was evaluated at, signed with the ledger key"});
    let local = json!({
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details; `code` is stable.",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": {"type": "string", "format": "uri"}, "title": {"type": "string"},
                "status": {"type": "integer"}, "detail": {"type": "string"}, "code": {"type": "string"}
            }
        },
        "Appended": {
            "type": "object",
            "required": ["seq", "hash", "replayed", "token"],
            "properties": {
                "seq": {"type": "integer"}, "hash": {"type": "string"}, "recorded_at": {"type": ["string", "null"]},
                "subject": {"type": ["string", "null"], "description": "pseudonym"}, "replayed": {"type": "boolean"},
                "token": {"type": "string", "description": "consistency token for decision requests"},
                "notify_recipients": {"type": "array", "items": {"type": "string"}},
                "receipt": {"type": "string", "description": "path of the entry's consent receipt"}
            }
        },
        "Check": check_schema("one check of a batch", check_properties()),
        "DecisionRequest": check_schema("a check, and how to answer it", single_check),
        "NewApiKey": {
            "type": "object", "required": ["scopes"], "additionalProperties": false,
            "properties": {
                "scopes": {"type": "array", "minItems": 1, "items": {"enum": ["decide", "watch", "record", "policy", "audit", "admin"]}},
                "name": {"type": "string", "maxLength": 100, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$", "description": "no control characters"},
                "expires_at": {"anyOf": [
                    {"type": "string", "pattern": "^[1-9][0-9]{0,5}[dhm]$", "description": "a lifetime: days, hours or minutes"},
                    {"$ref": "#/components/schemas/Timestamp", "description": "an instant in the future (422 `expiry_in_past` otherwise)"},
                    {"type": "null", "description": "never expires (the default)"}
                ]}
            }
        },
        "BatchRequest": {
            "type": "object", "required": ["checks"], "additionalProperties": false,
            "properties": {"checks": {"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/Check"}}, "token": token()}
        },
        "Decision": {
            "type": "object",
            "required": ["allowed", "reason", "evidence", "at"],
            "properties": {
                "allowed": {"type": "boolean"}, "reason": {"type": "string"},
                "dpv_consent_state": {"type": ["string", "null"]}, "legal_basis": {"type": ["string", "null"]},
                "policy_version": {"type": ["string", "null"]},
                "pseudonym": {"type": "string", "description": "only when the check named the subject by pseudonym"},
                "purpose": {"type": "string"}, "data_category": {"type": "string"}, "at": {"type": "string"},
                "checkpoint": {"type": ["integer", "null"]},
                "evidence": {"type": "array", "items": {"type": "object", "properties": {
                    "seq": {"type": "integer"}, "hash": {"type": "string"}, "kind": {"type": "string"}}}}
            }
        }
    });
    for (k, v) in local.as_object().expect("object") {
        schemas.insert(k.clone(), v.clone());
    }
    let r = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "consent-ledger API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Record consent events in a signed, hash-chained ledger and decide, now or as of any instant, whether data may be processed.",
        },
        "servers": [{"url": "http://127.0.0.1:8080"}],
        "paths": {
            "/healthz": {"get": {"summary": "Liveness, log head, projection checkpoint", "responses": {"200": {"description": "up", "content": {"application/json": {"schema": obj}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "OpenMetrics text"}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/v1/events": {"post": with_params(
                {
                    let mut o = op("Record a subject event", "record", Some("Submission"), ("201", r("Appended")), &[("409", "idempotency key used for another request"), ("422", "rejected by the rules")]);
                    o["responses"]["200"] = json!({"description": "a replay: the same Idempotency-Key and body as an earlier request; its original entry (`replayed: true`)", "content": {"application/json": {"schema": r("Appended")}}});
                    o
                },
                json!([{"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 200}}]),
            )},
            "/v1/policies": {
                "post": op("Publish a policy version", "policy", Some("PolicyVersion"), ("201", r("Appended")), &[("422", "rejected by the rules")]),
                "get": op("List policy versions", "policy", None, ("200", obj.clone()), &[]),
            },
            "/v1/policies/{version}": {"get": with_params(op("One policy version with its changes", "policy", None, ("200", obj.clone()), &[("404", "unknown version")]), json!([param("version", "path", "policy version id", domain("PolicyVersionId"))]))},
            "/v1/policies/{version}/reacceptance": {"get": with_params(op("Subjects who must re-accept a material change", "policy", None, ("200", obj.clone()), &[("404", "unknown version")]), json!([param("version", "path", "policy version id", domain("PolicyVersionId")), param("after", "query", "pseudonym to continue after (the previous page's `next`)", text()), param("limit", "query", "page size (default 100)", json!({"type": "integer", "minimum": 1, "maximum": 1000}))]))},
            "/v1/decisions": {"post": op("One decision", "decide", Some("DecisionRequest"), ("200", r("Decision")), &[("422", "a token this ledger never issued (invalid_token)"), ("503", "consistency token not reached in time")])},
            "/v1/decisions/batch": {"post": op("Up to 1000 decisions", "decide", Some("BatchRequest"), ("200", obj.clone()), &[("422", "over 1000 checks (batch_too_large), or a token this ledger never issued (invalid_token)"), ("503", "consistency token not reached in time")])},
            "/v1/subjects/{subject}/history": {"get": with_params(op("Every entry about a subject", "audit", None, ("200", obj.clone()), &[("404", "unknown subject")]), json!([param("subject", "path", "the controller's subject id", domain("SubjectId"))]))},
            "/v1/entries/{seq}/receipt": {"get": with_params(
                {
                    let mut o = op("The entry's consent receipt: C2SP tlog-proof@v1 text, or with format=json an ISO/IEC TS 27560-style receipt carrying the entry and the proof", "record or audit", None, ("200", obj.clone()), &[("404", "no such entry"), ("503", "no checkpoint covers the entry yet")]);
                    o["responses"]["200"]["content"]["text/plain"] = json!({"schema": {"type": "string"}});
                    o
                },
                json!([param("seq", "path", "the entry's sequence number", number()), param("format", "query", "tlog-proof (default) or json", json!({"enum": ["tlog-proof", "json"]}))]),
            )},
            "/v1/proofs/inclusion": {"get": with_params(op("RFC 9162 inclusion proof (base64 hashes)", "audit", None, ("200", obj.clone()), &[("422", "entry not in a tree of that size"), ("503", "no checkpoint covers the entry yet")]), json!([required(param("seq", "query", "the entry's sequence number", number())), param("size", "query", "tree size (default: the latest checkpoint's)", number())]))},
            "/v1/proofs/consistency": {"get": with_params(op("RFC 9162 consistency proof (base64 hashes)", "audit", None, ("200", obj.clone()), &[("422", "sizes out of range")]), json!([required(param("old", "query", "old tree size", number())), param("new", "query", "new tree size (default: the latest checkpoint's)", number())]))},
            "/log/checkpoint": {"get": {"summary": "The latest signed checkpoint (C2SP tlog-checkpoint); public with `serve --public-log`", "security": [{"apiKey": []}], "x-required-scope": "audit", "responses": {"200": {"description": "signed note", "content": {"text/plain": {"schema": {"type": "string"}}}}, "401": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"}}}},
            "/log/tile/{tile}": {"get": {"parameters": [param("tile", "path", "C2SP tlog-tiles path: <L>/<N>[.p/<W>] or entries/<N>[.p/<W>], N in x-prefixed groups of three digits", text())], "summary": "A hash tile or entry bundle (C2SP tlog-tiles), immutable; public with `serve --public-log`", "security": [{"apiKey": []}], "x-required-scope": "audit", "responses": {"200": {"description": "application/octet-stream"}, "401": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"}}}},
            "/v1/watch": {"get": {"parameters": [{"name": "from", "in": "query", "required": false, "description": "first sequence number", "schema": number()}], "summary": "Server-Sent Events of consent changes (entry, type, pseudonym, purpose)", "security": [{"apiKey": []}], "x-required-scope": "watch or audit", "responses": {"200": {"description": "text/event-stream"}, "400": {"$ref": "#/components/responses/Problem"}, "401": {"$ref": "#/components/responses/Problem"}, "403": {"$ref": "#/components/responses/Problem"}}}},
            "/v1/api-keys": {
                "get": op("Every API key (never secrets)", "admin", None, ("200", obj.clone()), &[]),
                "post": op("Create an API key; its secret is in this answer only", "admin", Some("NewApiKey"), ("201", obj.clone()), &[("422", "the expiry is not in the future (expiry_in_past)")]),
            },
            "/v1/api-keys/{id}": {"delete": with_params(op("Revoke an API key: refused by every server within a second", "admin", None, ("200", obj.clone()), &[("404", "no such key")]), json!([param("id", "path", "the key's id", json!({"type": "string", "pattern": "^[0-9a-f]{16}$"}))]))},
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "`ck_<id>_<secret>` from `consent api-key create --scopes …`"}},
            "responses": {"Problem": {"description": "RFC 9457 problem details", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
            "schemas": schemas,
        },
    })
}

/// Pretty JSON with a trailing newline, as committed.
pub fn document_text() -> String {
    let mut s = serde_json::to_string_pretty(&document()).expect("serialises");
    s.push('\n');
    s
}

pub async fn serve() -> Json<Value> {
    Json(document())
}
