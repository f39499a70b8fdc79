//! `[skills]`: where the owner's SKILL.md skills live and how many the
//! system prompt lists.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use picoclaw_skills::DEFAULT_MAX_LISTED;
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::render::q;
use crate::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSkills {
    pub enabled: Option<bool>,
    pub dir: Option<String>,
    pub max_listed: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct SkillsConfig {
    pub enabled: bool,
    /// The global skills directory (`DIR/NAME/SKILL.md`); the workspace's
    /// `skills/` is read too.
    pub dir: PathBuf,
    /// Most skills named in the system prompt.
    pub max_listed: usize,
}

pub(crate) fn resolve(
    ctx: &Ctx<'_>,
    raw: Option<RawSkills>,
    config_path: &Path,
) -> Result<SkillsConfig, ConfigError> {
    let s = raw.unwrap_or_default();
    Ok(SkillsConfig {
        enabled: s.enabled.unwrap_or(true),
        dir: match &s.dir {
            Some(d) => ctx.path_value("skills.dir", d)?,
            None => config_path
                .parent()
                .unwrap_or(Path::new("."))
                .join("skills"),
        },
        max_listed: ctx.range(
            "skills.max_listed",
            s.max_listed,
            DEFAULT_MAX_LISTED as u64,
            0,
            200,
        )? as usize,
    })
}

pub(crate) fn render(s: &SkillsConfig, o: &mut String) {
    let _ = writeln!(
        o,
        "[skills]\nenabled = {}\ndir = {}\nmax_listed = {}\n",
        s.enabled,
        q(&s.dir.display().to_string()),
        s.max_listed
    );
}
