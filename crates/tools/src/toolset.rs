//! The registry the agent calls tools through.

use std::sync::Arc;

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};

use crate::args::show;

/// Default cap on one tool result, a little above
/// `FileLimits::default().max_read_bytes` so `read_file`'s own
/// "continue with offset=" footer survives.
const DEFAULT_RESULT_CAP: usize = 72 * 1024;

/// A fixed set of tools: advertises their specs, parses the model's raw
/// argument text, dispatches by name and caps what goes back into the
/// conversation.
pub struct ToolSet {
    tools: Vec<Arc<dyn Tool>>,
    specs: Vec<ToolSpec>,
    result_cap: usize,
}

impl ToolSet {
    /// Later tools with an already-taken name are dropped with a warning:
    /// the model could not tell them apart.
    pub fn new(tools: Vec<Box<dyn Tool>>) -> Self {
        Self::from_shared(tools.into_iter().map(Arc::from).collect())
    }

    /// Like [`ToolSet::new`], from tools that are shared with other sets.
    pub fn from_shared(tools: Vec<Arc<dyn Tool>>) -> Self {
        let mut kept: Vec<Arc<dyn Tool>> = Vec::with_capacity(tools.len());
        let mut specs: Vec<ToolSpec> = Vec::with_capacity(tools.len());
        for tool in tools {
            let spec = tool.spec();
            if specs.iter().any(|s| s.name == spec.name) {
                picoclaw_core::warn!("tool '{}' registered twice; keeping the first", spec.name);
                continue;
            }
            specs.push(spec);
            kept.push(tool);
        }
        ToolSet {
            tools: kept,
            specs,
            result_cap: DEFAULT_RESULT_CAP,
        }
    }

    /// Results longer than `bytes` are cut (at a character boundary) and
    /// end with a visible marker saying so.
    pub fn with_result_cap(mut self, bytes: usize) -> Self {
        self.result_cap = bytes;
        self
    }

    /// These tools followed by `more` (tools that come and go, such as an
    /// MCP server's), with the same result cap. A name already taken keeps
    /// the first tool.
    pub fn with_more(&self, more: Vec<Arc<dyn Tool>>) -> ToolSet {
        let mut all = self.tools.clone();
        all.extend(more);
        ToolSet::from_shared(all).with_result_cap(self.result_cap)
    }

    /// The tools whose names `keep` accepts, with the same result cap (a
    /// subagent's restricted set).
    pub fn filtered(&self, keep: impl Fn(&str) -> bool) -> ToolSet {
        let kept = self
            .tools
            .iter()
            .zip(&self.specs)
            .filter(|(_, s)| keep(&s.name))
            .map(|(t, _)| t.clone())
            .collect();
        ToolSet::from_shared(kept).with_result_cap(self.result_cap)
    }

    /// The specs to advertise, computed once at construction.
    pub fn specs(&self) -> &[ToolSpec] {
        &self.specs
    }

    pub fn get(&self, name: &str) -> Option<&dyn Tool> {
        let i = self.specs.iter().position(|s| s.name == name)?;
        self.tools.get(i).map(|t| t.as_ref())
    }

    /// Runs one call as the model sent it. Invalid JSON and unknown names
    /// come back as error outputs the model can correct, never as a failed
    /// turn. Empty arguments count as `{}`, as some providers send them for
    /// calls without parameters.
    pub fn call(&self, name: &str, ctx: &ToolContext, raw_arguments: &str) -> ToolOutput {
        let Some(tool) = self.get(name) else {
            let names: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
            return ToolOutput::error(format!(
                "unknown tool '{}'; available: {}",
                show(name),
                names.join(", ")
            ));
        };
        let raw = raw_arguments.trim();
        let args = if raw.is_empty() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            match serde_json::from_str(raw) {
                Ok(v) => v,
                Err(e) => {
                    return ToolOutput::error(format!("arguments are not valid JSON: {e}"));
                }
            }
        };
        let mut out = tool.call(ctx, &args);
        if out.is_error {
            picoclaw_core::debug!(
                "session {}: tool {name} failed: {}",
                ctx.session,
                show(&out.content)
            );
        }
        out.content = cap(out.content, self.result_cap);
        out
    }
}

fn cap(mut content: String, cap: usize) -> String {
    if content.len() <= cap {
        return content;
    }
    let total = content.len();
    let mut cut = cap;
    while !content.is_char_boundary(cut) {
        cut -= 1;
    }
    content.truncate(cut);
    content.push_str(&format!(
        "\n[truncated: showing the first {cut} of {total} bytes]"
    ));
    // A cut web page or file keeps no hidden megabytes while the turn
    // holds its result.
    content.shrink_to_fit();
    content
}

#[cfg(test)]
mod tests {
    use super::cap;

    #[test]
    fn truncation_never_splits_a_character() {
        assert_eq!(
            cap("aé".repeat(3), 5),
            "aéa\n[truncated: showing the first 4 of 9 bytes]"
        );
        assert_eq!(cap("short".into(), 5), "short");
    }
}
