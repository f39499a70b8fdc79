//! Skills: `SKILL.md` files the owner puts in place (a global directory,
//! and `skills/*/` in the workspace), each a YAML frontmatter block with a
//! `name` and a one-line `description`, then instructions in Markdown.
//!
//! Only names and descriptions reach the system prompt, capped in number
//! and length ([`Catalog::prompt_section`]); the model reads a skill's
//! body on demand with the `skill` tool ([`Catalog::tool`]). A skill is
//! text: nothing here runs, downloads or installs anything, so whatever a
//! skill asks for happens only through the agent's ordinary sandboxed
//! tools. A file with bad frontmatter is skipped and reported
//! ([`Scan::problems`]), never fatal.
//!
//! The frontmatter parser is deliberately small (see `frontmatter`): the
//! documented keys are strings and one `metadata` map, so a YAML crate's
//! bytes would buy nothing picoclaw reads.

mod catalog;
mod frontmatter;
mod open;
mod tool;

pub use catalog::{
    Catalog, Problem, Scan, Skill, SkillsOptions, DEFAULT_MAX_LISTED, MAX_DESCRIPTION,
};
pub use frontmatter::{parse, Frontmatter};
