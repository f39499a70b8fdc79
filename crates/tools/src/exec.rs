//! `exec`: a shell command run with `/bin/sh -c` inside the kernel sandbox
//! (`picoclaw-sandbox`), cwd = workspace. The result always states exit
//! code or signal, duration, truncation and the enforcement label.

use std::time::Duration;

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};
use picoclaw_sandbox::{run, Cmd, Policy};
use serde_json::{json, Value};

use crate::args::Args;

/// Runs commands under a policy template; the workspace comes from each
/// call's context, the timeout from the call (capped by the template's).
#[derive(Debug, Clone)]
pub struct ExecTool {
    policy: Policy,
}

impl ExecTool {
    /// `policy.limits.timeout` is the ceiling for `timeout_secs`.
    pub fn new(policy: Policy) -> Self {
        ExecTool { policy }
    }

    fn run(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
        let args = Args::new(args)?;
        let command = args.required_str("command")?;
        // ctx.timeout is the default for a call; the template's timeout is
        // the most a call may ask for.
        let max = self.policy.limits.timeout;
        let timeout = match args.optional_u64("timeout_secs")? {
            Some(secs) => Duration::from_secs(secs.max(1)).min(max),
            None => ctx.timeout.min(max),
        };
        let mut policy = self.policy.clone();
        policy.workspace = ctx.workspace.clone();
        policy.limits.timeout = timeout;
        let out = run(&policy, Cmd::Shell(command), None, &ctx.cancel)
            .map_err(|e| format!("exec refused: {e}"))?;
        let summary = out.summary();
        picoclaw_core::info!("exec in {}: {summary}", ctx.session);
        let mut text = summary;
        if !out.stdout.is_empty() {
            text.push_str("\n--- stdout ---\n");
            text.push_str(&out.stdout);
        }
        if !out.stderr.is_empty() {
            text.push_str("\n--- stderr ---\n");
            text.push_str(&out.stderr);
        }
        let failed = out.exit_code != Some(0) || out.timed_out || out.cancelled;
        let exit = out.exit_code.or_else(|| out.signal.map(|s| 128 + s));
        Ok(if failed {
            ToolOutput::error(text)
        } else {
            ToolOutput::ok(text)
        }
        .with_run(exit, out.enforcement.to_string()))
    }
}

impl Tool for ExecTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "exec".into(),
            description: format!(
                "Run a shell command (/bin/sh -c) in the workspace inside a kernel sandbox: no network, \
                 no access outside the workspace, killed after timeout_secs (max {}).",
                self.policy.limits.timeout.as_secs()
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "Shell command"},
                    "timeout_secs": {"type": "integer", "description": "Wall-clock limit in seconds"}
                },
                "required": ["command"]
            }),
        }
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> ToolOutput {
        self.run(ctx, args).unwrap_or_else(ToolOutput::error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picoclaw_core::Cancel;
    use picoclaw_sandbox::Mode;

    fn ctx(ws: &std::path::Path) -> ToolContext {
        ToolContext {
            workspace: ws.to_path_buf(),
            session: "test".into(),
            caller: Default::default(),
            timeout: Duration::from_secs(20),
            cancel: Cancel::new(),
        }
    }

    #[test]
    fn exec_reports_exit_output_and_the_enforcement_label() {
        let ws = std::env::temp_dir().join(format!("picoclaw-exec-test-{}", std::process::id()));
        std::fs::create_dir_all(&ws).unwrap();
        let mut policy = Policy::new(&ws);
        policy.mode = Mode::BestEffort;
        let tmp_root =
            std::env::temp_dir().join(format!("picoclaw-exec-tmp-{}", std::process::id()));
        policy.tmp_root = tmp_root.clone();
        let tool = ExecTool::new(policy);
        let out = tool.call(
            &ctx(&ws),
            &json!({"command": "echo hi; echo oops >&2; exit 3"}),
        );
        assert!(out.is_error);
        let first = out.content.lines().next().unwrap();
        assert!(first.starts_with("exit 3 after "), "{first}");
        assert!(first.contains("[sandbox: "), "{first}");
        assert_eq!(out.exit_code, Some(3));
        let label = out.sandbox.as_deref().unwrap();
        assert!(first.ends_with(&format!("[sandbox: {label}]")), "{first}");
        assert!(
            out.content
                .ends_with("--- stdout ---\nhi\n\n--- stderr ---\noops\n"),
            "{}",
            out.content
        );
        let bad = tool.call(&ctx(&ws), &json!({"timeout_secs": 3}));
        assert!(bad.is_error);
        let _ = std::fs::remove_dir_all(&ws);
        let _ = std::fs::remove_dir_all(&tmp_root);
    }
}
