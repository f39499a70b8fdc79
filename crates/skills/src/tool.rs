//! The `skill` tool: a skill's instructions, by name, when the model
//! decides it needs them.

use std::sync::Arc;

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};
use serde_json::{json, Value};

use crate::catalog::{one_line, Catalog, MAX_DESCRIPTION};

pub(crate) struct SkillTool {
    pub(crate) catalog: Arc<Catalog>,
}

impl Tool for SkillTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "skill".into(),
            description:
                "Reads the instructions of a skill listed under Skills in the system prompt.".into(),
            parameters: json!({
                "type": "object",
                "properties": {"name": {"type": "string", "description": "The skill's name as listed, or \"*\" for all names."}},
                "required": ["name"]
            }),
        }
    }

    fn call(&self, _ctx: &ToolContext, args: &Value) -> ToolOutput {
        let Some(name) = args.get("name").and_then(Value::as_str) else {
            return ToolOutput::error("missing argument `name` (a skill's name)");
        };
        if name == "*" {
            return ToolOutput::ok(self.all());
        }
        match self.catalog.load(name) {
            Ok((skill, body)) => {
                let files = if skill.in_workspace {
                    format!("its files are in skills/{}/ in the workspace", skill.name)
                } else {
                    format!("its directory is {}", skill.dir.display())
                };
                ToolOutput::ok(format!("Skill {} ({files}):\n\n{body}", skill.name))
            }
            Err(e) => ToolOutput::error(format!("{e}. {}", self.all())),
        }
    }
}

impl SkillTool {
    fn all(&self) -> String {
        let scan = self.catalog.current();
        if scan.skills.is_empty() {
            return "There are no skills.".into();
        }
        let mut out = String::from("Skills:");
        for s in scan.skills.iter() {
            out.push_str(&format!(
                "\n- {}: {}",
                s.name,
                one_line(&s.description, MAX_DESCRIPTION)
            ));
        }
        out
    }
}
