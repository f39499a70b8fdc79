//! The tools the model can call, and the registry the agent calls them
//! through.
//!
//! This crate provides the workspace file tools (`read_file`, `write_file`,
//! `edit_file`, `list_dir`) and [`ToolSet`], which parses the model's raw
//! JSON arguments, dispatches by name and caps result sizes. Every file
//! access is confined to `ToolContext::workspace` by the kernel's
//! beneath-resolution (`openat2` with `RESOLVE_BENEATH`), so `..`, absolute
//! paths outside and symlinks leading out are refused race-free (kernels
//! before 5.6 get a racy canonicalize-and-check fallback). Symlinks with
//! absolute targets are refused even when they point back inside, writes
//! never go through a symlink at the final name, and hard links are out of
//! scope for path checks (writes replace the directory entry, so an outside
//! inode linked in is never modified, but it can be read).
//!
//! `exec` runs shell commands through `picoclaw-sandbox` (Landlock +
//! seccomp + rlimits); the confinement rules themselves live in that crate.
//! Linux only.
//!
//! [`place`] saves chat downloads into the workspace and opens files for
//! upload under the same confinement.
//!
//! [`web`] has `web_fetch` (behind an SSRF guard that pins the vetted
//! address) and `web_search`.

mod args;
mod beneath;
mod edit;
mod exec;
mod list;
pub mod place;
mod read;
mod sys;
mod toolset;
pub mod web;
mod write;

pub use args::Args;
pub use edit::EditFile;
pub use exec::ExecTool;
pub use list::ListDir;
pub use read::ReadFile;
pub use toolset::ToolSet;
pub use write::WriteFile;

use picoclaw_core::Tool;

/// Size caps for the file tools. They bound memory on a 256 MB board as
/// much as they bound prompt size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimits {
    /// Most bytes of file content `read_file` returns in one call; longer
    /// files are cut at a line boundary with a hint on how to continue.
    pub max_read_bytes: usize,
    /// Largest file `write_file` writes and `edit_file` edits.
    pub max_write_bytes: usize,
    /// Most entries `list_dir` shows.
    pub max_list_entries: usize,
}

impl Default for FileLimits {
    fn default() -> Self {
        FileLimits {
            max_read_bytes: 64 * 1024,
            max_write_bytes: 1024 * 1024,
            max_list_entries: 500,
        }
    }
}

/// The four workspace file tools, in the order they are advertised.
pub fn file_tools(limits: &FileLimits) -> Vec<Box<dyn Tool>> {
    vec![
        Box::new(ReadFile::new(limits)),
        Box::new(WriteFile::new(limits)),
        Box::new(EditFile::new(limits)),
        Box::new(ListDir::new(limits)),
    ]
}
