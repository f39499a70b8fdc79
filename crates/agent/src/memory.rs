//! The long-term memory tools: `memory_save`, `memory_search` and
//! `memory_forget`. A memory belongs to the person whose message started
//! the turn (`channel:user id`), or to the explicit shared scope every user
//! of this picoclaw can read. Nobody reads or forgets another person's
//! private memories.

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};
use picoclaw_store::SHARED_SCOPE;
use picoclaw_tools::Args;
use serde_json::{json, Value};

use crate::db::Db;

/// Longest memory text kept (characters beyond are refused, not cut: a
/// memory is a note, not a document).
const MAX_TEXT: usize = 2_000;
const DEFAULT_RESULTS: u64 = 5;
const MAX_RESULTS: u64 = 20;

/// The three memory tools over `db`.
pub fn memory_tools(db: &Db) -> Vec<Box<dyn Tool>> {
    vec![
        Box::new(Save(db.clone())),
        Box::new(Search(db.clone())),
        Box::new(Forget(db.clone())),
    ]
}

struct Save(Db);
struct Search(Db);
struct Forget(Db);

fn spec(name: &str, description: &str, parameters: Value) -> ToolSpec {
    ToolSpec {
        name: name.to_string(),
        description: description.to_string(),
        parameters,
    }
}

fn run(f: impl FnOnce() -> Result<String, String>) -> ToolOutput {
    match f() {
        Ok(s) => ToolOutput::ok(s),
        Err(e) => ToolOutput::error(e),
    }
}

/// The scopes a call may touch: the caller's own, and shared when allowed.
fn scopes(ctx: &ToolContext, shared: bool) -> Vec<String> {
    let mut v = vec![ctx.caller.owner()];
    if shared {
        v.push(SHARED_SCOPE.to_string());
    }
    v
}

impl Tool for Save {
    fn spec(&self) -> ToolSpec {
        spec(
            "memory_save",
            "Remember a fact for later conversations.",
            json!({"type": "object", "properties": {
                "text": {"type": "string"},
                "tags": {"type": "string", "description": "space-separated"},
                "shared": {"type": "boolean", "description": "visible to all users"}
            }, "required": ["text"]}),
        )
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> ToolOutput {
        run(|| {
            let a = Args::new(args)?;
            let text = a.required_str("text")?.trim();
            if text.is_empty() {
                return Err(String::from("'text' is empty: nothing to remember"));
            }
            if text.chars().count() > MAX_TEXT {
                return Err(format!(
                    "'text' is over {MAX_TEXT} characters; save a shorter note (a file in the workspace holds more)"
                ));
            }
            let tags: Vec<&str> = a
                .optional_str("tags")?
                .unwrap_or("")
                .split_whitespace()
                .collect();
            let scope = if a.optional_bool("shared")?.unwrap_or(false) {
                SHARED_SCOPE.to_string()
            } else {
                ctx.caller.owner()
            };
            let (text, tags) = (text.to_string(), tags.join(" "));
            let id = self
                .0
                .blocking(|s| s.memory_save(&scope, &text, &tags))
                .map_err(|e| format!("could not save: {e}"))?;
            Ok(format!("Saved memory #{id}."))
        })
    }
}

impl Tool for Search {
    fn spec(&self) -> ToolSpec {
        spec(
            "memory_search",
            "Search saved memories by words.",
            json!({"type": "object", "properties": {
                "query": {"type": "string"},
                "limit": {"type": "integer"}
            }, "required": ["query"]}),
        )
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> ToolOutput {
        run(|| {
            let a = Args::new(args)?;
            let query = a.required_str("query")?.to_string();
            let limit = a
                .optional_u64("limit")?
                .unwrap_or(DEFAULT_RESULTS)
                .clamp(1, MAX_RESULTS) as usize;
            let scopes = scopes(ctx, /*shared*/ true);
            let hits = self
                .0
                .blocking(|s| {
                    let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
                    s.memory_search(&refs, &query, limit)
                })
                .map_err(|e| format!("could not search: {e}"))?;
            if hits.is_empty() {
                return Ok(String::from("No memories match."));
            }
            let mut out = String::new();
            for h in hits {
                out.push_str(&format!("#{}", h.id));
                if h.scope == SHARED_SCOPE {
                    out.push_str(" (shared)");
                }
                if !h.tags.is_empty() {
                    out.push_str(&format!(" [{}]", h.tags));
                }
                out.push_str(": ");
                out.push_str(&h.snippet);
                out.push('\n');
            }
            Ok(out)
        })
    }
}

impl Tool for Forget {
    fn spec(&self) -> ToolSpec {
        spec(
            "memory_forget",
            "Delete a saved memory by id.",
            json!({"type": "object", "properties": {
                "id": {"type": "integer"}
            }, "required": ["id"]}),
        )
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> ToolOutput {
        run(|| {
            let a = Args::new(args)?;
            let id = a
                .optional_u64("id")?
                .ok_or_else(|| String::from("missing required argument 'id' (integer)"))?;
            let id = i64::try_from(id).map_err(|_| format!("no memory #{id}"))?;
            let scopes = scopes(ctx, /*shared*/ true);
            let gone = self
                .0
                .blocking(|s| {
                    let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
                    s.memory_forget(&refs, id)
                })
                .map_err(|e| format!("could not forget: {e}"))?;
            if gone {
                Ok(format!("Forgot memory #{id}."))
            } else {
                Err(format!("There is no memory #{id} of yours to forget."))
            }
        })
    }
}
