//! Runs in-process tools (the file tools) with the sandbox tool user's
//! filesystem credentials, so what `write_file` creates belongs to the same
//! uid that `exec` runs as, and the kernel's permission checks apply to the
//! model's file access as they do to its commands.
//!
//! `setfsuid`/`setfsgid` change the credentials of the calling thread only
//! (Linux keeps credentials per thread; the raw syscalls bypass libc's
//! process-wide set*id broadcasting), and the guard restores them before
//! the pool thread runs anything else.

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};

pub struct AsUser {
    inner: Box<dyn Tool>,
    uid: u32,
    gid: u32,
}

impl AsUser {
    pub fn wrap(inner: Box<dyn Tool>, uid: u32, gid: u32) -> Box<dyn Tool> {
        Box::new(AsUser { inner, uid, gid })
    }
}

struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        set_fs_ids(0, 0);
    }
}

fn set_fs_ids(uid: u32, gid: u32) {
    // SAFETY: plain syscalls with integer arguments. Group first: after the
    // uid changes we could lose the right to change the gid.
    unsafe {
        libc::syscall(libc::SYS_setfsgid, gid as libc::c_long);
        libc::syscall(libc::SYS_setfsuid, uid as libc::c_long);
    }
}

impl Tool for AsUser {
    fn spec(&self) -> ToolSpec {
        self.inner.spec()
    }

    fn call(&self, ctx: &ToolContext, args: &serde_json::Value) -> ToolOutput {
        set_fs_ids(self.uid, self.gid);
        let _restore = Restore;
        self.inner.call(ctx, args)
    }
}
