//! Skills in the binary: the catalog over `[skills] dir` and the
//! workspace, its prompt section and `skill` tool for the agent, and
//! `picoclaw skills list`.

use std::path::Path;
use std::sync::Arc;

use picoclaw_agent::{PromptSection, ToolSource};
use picoclaw_config::Config;
use picoclaw_core::Tool;
use picoclaw_skills::{Catalog, SkillsOptions};

use crate::Failure;

/// `None` when `[skills] enabled = false`.
pub fn catalog(config: &Config, workspace: &Path) -> Option<Arc<Catalog>> {
    config.skills.enabled.then(|| {
        Catalog::new(SkillsOptions {
            global: Some(config.skills.dir.clone()),
            workspace: Some(workspace.to_path_buf()),
            max_listed: config.skills.max_listed,
        })
    })
}

/// The listing, rebuilt with every prompt (from the blocking pool).
pub struct Listing(pub Arc<Catalog>);

impl PromptSection for Listing {
    fn section(&self) -> Option<String> {
        self.0.prompt_section()
    }
}

/// The `skill` tool, offered only while there is a skill to load; the
/// generation moves when a rescan (prompt building) saw the list change.
pub struct SkillTool {
    catalog: Arc<Catalog>,
    tool: Arc<dyn Tool>,
}

impl SkillTool {
    pub fn new(catalog: Arc<Catalog>) -> SkillTool {
        SkillTool {
            tool: catalog.tool(),
            catalog,
        }
    }
}

impl ToolSource for SkillTool {
    fn generation(&self) -> u64 {
        self.catalog.generation()
    }

    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        if self.catalog.cached().skills.is_empty() {
            Vec::new()
        } else {
            vec![self.tool.clone()]
        }
    }
}

/// `picoclaw skills list`: every skill with where it lives, then every
/// file that was skipped and why (not an error: doctor warns about them).
pub fn list(config: &Config) -> Result<(), Failure> {
    let Some(catalog) = catalog(config, &config.agent.workspace) else {
        println!("skills are disabled ([skills] enabled = false)");
        return Ok(());
    };
    let scan = catalog.current();
    if scan.skills.is_empty() && scan.problems.is_empty() {
        println!(
            "no skills in {} or {}",
            config.skills.dir.display(),
            config.agent.workspace.join("skills").display()
        );
    }
    for s in &scan.skills {
        println!(
            "{}: {}",
            s.name,
            s.description
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        );
        println!("  {}", s.dir.join("SKILL.md").display());
        for (k, v) in &s.metadata {
            println!("  {k}: {v}");
        }
    }
    for p in &scan.problems {
        println!("skipped {}: {}", p.path.display(), p.message);
    }
    Ok(())
}
