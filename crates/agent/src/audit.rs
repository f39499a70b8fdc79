//! What the audit log says about one tool call. Built beside the tool
//! result and written in the same store hop, so a recorded result always
//! has its audit row.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use picoclaw_core::{redact, Caller, ToolCall, ToolOutput};
use picoclaw_store::{AuditStatus, ToolAudit};

/// Arguments longer than this are cut in the audit row (a `write_file`
/// of a megabyte is recorded by its start and its size).
const MAX_ARGUMENTS: usize = 1024;
/// The failure reason kept: the first line of the output, this long.
const MAX_DETAIL: usize = 200;

/// The audit row for `call`, made for `caller` while answering
/// `inbound_id`. `output` must already be redacted; the arguments are
/// redacted here.
pub(crate) fn record(
    caller: &Caller,
    inbound_id: i64,
    call: &ToolCall,
    output: &ToolOutput,
    took: Duration,
) -> ToolAudit {
    let status = if output.is_error {
        AuditStatus::Error
    } else {
        AuditStatus::Ok
    };
    let detail = output.is_error.then(|| {
        cut(
            output.content.lines().next().unwrap_or_default(),
            MAX_DETAIL,
        )
    });
    ToolAudit {
        at: unix_now(),
        channel: caller.channel.clone(),
        chat_id: caller.chat_id.clone(),
        user_id: caller.sender_id.clone(),
        inbound_id: Some(inbound_id),
        tool: call.name.clone(),
        arguments: cut(&redact::scrub(&call.arguments), MAX_ARGUMENTS),
        status,
        exit_code: output.exit_code,
        duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        sandbox: output.sandbox.clone(),
        detail,
    }
}

/// The audit row for a call a subagent made (`spawn`): the conversation it
/// works for, no inbound event of its own.
pub(crate) fn by_subagent(
    caller: &Caller,
    call: &ToolCall,
    output: &ToolOutput,
    took: Duration,
) -> ToolAudit {
    ToolAudit {
        inbound_id: None,
        ..record(caller, 0, call, output, took)
    }
}

/// The audit row for a call a policy refused before it ran: a tool not
/// offered in that chat, or a confirmation declined or not given.
pub(crate) fn denied(caller: &Caller, inbound_id: i64, call: &ToolCall, reason: &str) -> ToolAudit {
    ToolAudit {
        status: AuditStatus::Denied,
        detail: Some(cut(&redact::scrub(reason), MAX_DETAIL)),
        ..record(
            caller,
            inbound_id,
            call,
            &ToolOutput::ok(""),
            Duration::ZERO,
        )
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `text` cut to at most `max` bytes on a character boundary, saying how
/// long it was.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[{} bytes]", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            channel: "telegram".into(),
            chat_id: "-100".into(),
            sender_id: "42".into(),
            group: true,
        }
    }

    fn call(args: &str) -> ToolCall {
        ToolCall {
            id: "c1".into(),
            name: "exec".into(),
            arguments: args.into(),
        }
    }

    #[test]
    fn a_failed_exec_is_recorded_with_its_exit_code_label_and_first_line() {
        let out = ToolOutput::error("exit 3 after 5 ms [sandbox: x]\n--- stdout ---\nhi")
            .with_run(Some(3), "x");
        let row = record(
            &caller(),
            9,
            &call(r#"{"command":"false"}"#),
            &out,
            Duration::from_millis(5),
        );
        assert_eq!(
            row,
            ToolAudit {
                at: row.at,
                channel: "telegram".into(),
                chat_id: "-100".into(),
                user_id: "42".into(),
                inbound_id: Some(9),
                tool: "exec".into(),
                arguments: r#"{"command":"false"}"#.into(),
                status: AuditStatus::Error,
                exit_code: Some(3),
                duration_ms: 5,
                sandbox: Some("x".into()),
                detail: Some("exit 3 after 5 ms [sandbox: x]".into()),
            }
        );
    }

    #[test]
    fn arguments_are_redacted_and_long_ones_cut() {
        let args = r#"{"command":"curl -H 'Authorization: Bearer abcdefgh12345678' x"}"#;
        let row = record(
            &caller(),
            1,
            &call(args),
            &ToolOutput::ok("ok"),
            Duration::ZERO,
        );
        assert_eq!(
            row.arguments,
            r#"{"command":"curl -H 'Authorization: Bearer ***' x"}"#
        );
        assert_eq!((row.status, row.detail), (AuditStatus::Ok, None));
        let long = format!(r#"{{"content":"{}"}}"#, "é".repeat(1000));
        let row = record(
            &caller(),
            1,
            &call(&long),
            &ToolOutput::ok("ok"),
            Duration::ZERO,
        );
        assert!(
            row.arguments.len() <= MAX_ARGUMENTS + 20,
            "{}",
            row.arguments.len()
        );
        assert!(row.arguments.ends_with(&format!("…[{} bytes]", long.len())));
    }

    #[test]
    fn a_denied_call_says_why() {
        let row = denied(
            &caller(),
            1,
            &call("{}"),
            "exec is not allowed in group chats",
        );
        assert_eq!(row.status, AuditStatus::Denied);
        assert_eq!(
            row.detail.as_deref(),
            Some("exec is not allowed in group chats")
        );
        assert_eq!((row.exit_code, row.duration_ms), (None, 0));
    }
}
