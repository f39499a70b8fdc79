//! The `schedule` tool: add, list and remove the calling chat's jobs. A
//! chat never sees or removes another chat's jobs: every query is scoped to
//! the channel and chat id of the turn (`ToolContext`).

use std::fmt::Write as _;
use std::sync::Arc;

use picoclaw_core::{ChatKind, Tool, ToolContext, ToolOutput, ToolSpec};
use picoclaw_store::{Job, JobAction, Missed, NewJob};
use serde_json::Value;

use crate::spec::{parse_cron, parse_duration, parse_iso, parse_relative, Spec};
use crate::zone::Zone;
use crate::Scheduler;

const PARAMETERS: &str = r#"{"type":"object","properties":{
"action":{"enum":["add","list","remove"]},
"kind":{"enum":["at","every","cron"]},
"when":{"type":"string","description":"at: ISO time or \"in 20m\"; every: seconds or \"2h\"; cron: 5 fields"},
"tz":{"type":"string","description":"IANA zone for at/cron"},
"message":{"type":"string"},
"prompt":{"type":"string"},
"missed":{"enum":["run_once","skip"],"description":"if down when due"},
"id":{"type":"integer"}},
"required":["action"]}"#;

/// Longest message or prompt a job may carry.
const MAX_BODY: usize = 4000;

/// Get it from [`Scheduler::tool`].
pub struct ScheduleTool {
    sched: Arc<Scheduler>,
}

impl ScheduleTool {
    pub(crate) fn new(sched: Arc<Scheduler>) -> ScheduleTool {
        ScheduleTool { sched }
    }
}

impl Tool for ScheduleTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "schedule".into(),
            description: "Jobs for this chat. add: kind+when and message (sent as is) or prompt (run as a turn then); list; remove: id.".into(),
            // Parsed from text: `json!` for this shape costs ~3 KiB of code.
            parameters: serde_json::from_str(PARAMETERS).unwrap_or(Value::Null),
        }
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> ToolOutput {
        let result = match str_arg(args, "action") {
            Ok(Some("add")) => self.add(ctx, args),
            Ok(Some("list")) => self.list(ctx),
            Ok(Some("remove")) => self.remove(ctx, args),
            Ok(Some(other)) => Err(format!("unknown action {other:?}; use add, list or remove")),
            Ok(None) => Err(String::from("missing 'action' (add, list or remove)")),
            Err(e) => Err(e),
        };
        match result {
            Ok(text) => ToolOutput::ok(text),
            Err(text) => ToolOutput::error(text),
        }
    }
}

impl ScheduleTool {
    fn add(&self, ctx: &ToolContext, args: &Value) -> Result<String, String> {
        let sched = &self.sched;
        let served = sched.served();
        if served.is_empty() {
            return Err(String::from(
                "no scheduler runs in this process (the terminal's `picoclaw agent`); jobs can be set from a chat the daemon serves",
            ));
        }
        let c = &ctx.caller;
        if !served.contains(&c.channel.as_str()) {
            return Err(format!(
                "jobs cannot be delivered to {} chats here (running: {})",
                c.channel,
                served.join(", ")
            ));
        }
        let kind = str_arg(args, "kind")?.ok_or("missing 'kind' (at, every or cron)")?;
        let when = match args.get("when") {
            Some(Value::Number(n)) => n.to_string(),
            _ => str_arg(args, "when")?.ok_or("missing 'when'")?.to_string(),
        };
        let (action, body) = match (str_arg(args, "message")?, str_arg(args, "prompt")?) {
            (Some(m), None) => (JobAction::Message, m),
            (None, Some(p)) => (JobAction::Prompt, p),
            _ => return Err(String::from("give exactly one of 'message' or 'prompt'")),
        };
        let body = body.trim();
        if body.is_empty() || body.chars().count() > MAX_BODY {
            return Err(format!(
                "the {} must be 1..={MAX_BODY} characters",
                action.as_str()
            ));
        }
        let zone = match str_arg(args, "tz")? {
            Some(name) => Zone::load(name).map_err(|e| e.0)?,
            None => sched.zone.clone(),
        };
        let missed = match str_arg(args, "missed")? {
            None => sched.opts.missed,
            Some(m) => Missed::parse(m).ok_or("missed must be run_once or skip")?,
        };
        let now = sched.clock.now();
        let (spec, stored) = match kind {
            "at" => {
                let at = parse_relative(&when)
                    .map(|d| now + d)
                    .or_else(|| parse_iso(&when, &zone))
                    .ok_or_else(|| {
                        format!("'when' for at: an ISO time like 2026-05-01T09:00 or \"in 20m\", got {when:?}")
                    })?;
                if at <= now {
                    return Err(format!(
                        "{} has passed; now is {} ({})",
                        zone.civil(at),
                        zone.civil(now),
                        zone.name()
                    ));
                }
                (Spec::At(at), at.to_string())
            }
            "every" => {
                let secs = parse_duration(&when).ok_or_else(|| {
                    format!("'when' for every: seconds or a duration like \"2h\", got {when:?}")
                })?;
                if secs < sched.opts.min_every_secs {
                    return Err(format!(
                        "every: the shortest period is {} s",
                        sched.opts.min_every_secs
                    ));
                }
                (Spec::Every(secs), secs.to_string())
            }
            "cron" => {
                let expr = parse_cron(&when)?;
                (
                    Spec::Cron(Box::new(expr), zone.clone()),
                    when.trim().to_string(),
                )
            }
            other => return Err(format!("unknown kind {other:?}; use at, every or cron")),
        };
        let first = spec
            .first(now)
            .ok_or_else(|| format!("{when:?} never fires"))?;
        let job = NewJob {
            channel: c.channel.clone(),
            chat_id: c.chat_id.clone(),
            chat_kind: if c.group {
                ChatKind::Group
            } else {
                ChatKind::Direct
            },
            owner_id: c.sender_id.clone(),
            // The caller carries no display name; in a group the job's
            // turn is then labelled with the owner's id.
            owner_name: c.sender_id.clone(),
            kind: spec.kind().to_string(),
            spec: stored,
            tz: zone.name().to_string(),
            action,
            body: body.to_string(),
            missed,
            next_run_at: first,
        };
        let limit = sched.opts.max_jobs_per_chat;
        let chat = (ctx.caller.channel.clone(), ctx.caller.chat_id.clone());
        let added = sched.db.blocking(|s| {
            let count = s.jobs(Some((&chat.0, &chat.1)))?.len();
            if count >= limit {
                return Ok(None);
            }
            s.add_job(&job).map(Some)
        });
        let id = match added {
            Ok(Some(id)) => id,
            Ok(None) => {
                return Err(format!(
                    "this chat has {limit} jobs, the most allowed; remove one first"
                ))
            }
            Err(e) => return Err(format!("could not store the job: {e}")),
        };
        sched.added.notify_one();
        Ok(format!(
            "Added job #{id}. Next: {} ({}).",
            zone.civil(first),
            zone.name()
        ))
    }

    fn list(&self, ctx: &ToolContext) -> Result<String, String> {
        let sched = &self.sched;
        let chat = (ctx.caller.channel.clone(), ctx.caller.chat_id.clone());
        let jobs = sched
            .db
            .blocking(|s| s.jobs(Some((&chat.0, &chat.1))))
            .map_err(|e| format!("could not read the jobs: {e}"))?;
        let zone = &sched.zone;
        let mut out = format!("Now: {} ({}).", zone.civil(sched.clock.now()), zone.name());
        if jobs.is_empty() {
            out.push_str(" No jobs in this chat.");
        }
        for job in &jobs {
            out.push('\n');
            out.push_str(&describe(job));
        }
        Ok(out)
    }

    fn remove(&self, ctx: &ToolContext, args: &Value) -> Result<String, String> {
        let id = match args.get("id") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().trim_start_matches('#').parse().ok(),
            _ => None,
        }
        .ok_or("missing 'id' (the job number from list)")?;
        let chat = (ctx.caller.channel.clone(), ctx.caller.chat_id.clone());
        let removed = self
            .sched
            .db
            .blocking(|s| s.remove_job(id, Some((&chat.0, &chat.1))))
            .map_err(|e| format!("could not remove the job: {e}"))?;
        if removed {
            Ok(format!("Removed job #{id}."))
        } else {
            Err(format!("no job #{id} in this chat"))
        }
    }
}

/// One line about a job, in its own zone.
pub fn describe(job: &Job) -> String {
    let j = &job.job;
    let (zone, _) = Zone::load_or_utc(&j.tz);
    let mut line = format!("#{} ", job.id);
    let _ = match j.kind.as_str() {
        "at" => write!(line, "once"),
        "every" => write!(line, "every {} s", j.spec),
        _ => write!(line, "cron \"{}\" {}", j.spec, zone.name()),
    };
    let _ = write!(
        line,
        ", next {} ({}), {}: {}",
        zone.civil(j.next_run_at),
        zone.name(),
        j.action.as_str(),
        short(&j.body, 80)
    );
    line
}

fn short(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out.replace('\n', " ")
}

fn str_arg<'a>(args: &'a Value, key: &str) -> Result<Option<&'a str>, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(format!("'{key}' must be a string, got {other}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_parameter_schema_is_valid_json_and_terse() {
        let v: serde_json::Value = serde_json::from_str(super::PARAMETERS).unwrap();
        assert_eq!(v["required"][0], "action");
        assert!(v.to_string().len() < 600, "{}", v.to_string().len());
    }
}
