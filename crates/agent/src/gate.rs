//! The turn's side of the tool policy: which tools one request offers
//! (a denied tool is not offered at all), refusing a call of one that is
//! not offered, and the yes/no before a call that needs confirming. A
//! child of `turn`, so it reads the turn's state directly.

use std::sync::Arc;
use std::time::Duration;

use picoclaw_core::{info, ToolCall, ToolOutput, ToolSpec};
use picoclaw_store::{ConfirmAsk, ConfirmStatus, StoreError};
use picoclaw_tools::ToolSet;

use super::{Agent, At, Tools};
use crate::access::Grant;
use crate::confirm::{self, Answer};

/// What one request offers the model.
pub(super) struct Offer {
    pub names: Vec<String>,
    pub specs: Specs,
    /// Estimated tokens of `specs`.
    pub tokens: usize,
}

impl Offer {
    /// No tools (the tool-call limit was reached).
    pub fn nothing() -> Offer {
        Offer {
            names: Vec::new(),
            specs: Specs::None,
            tokens: 0,
        }
    }
}

/// The specs of one request, cheap to clone into each provider call.
#[derive(Clone)]
pub(super) enum Specs {
    None,
    /// Every tool of the set.
    All(Arc<ToolSet>),
    /// The tools a grant keeps.
    Some(Arc<[ToolSpec]>),
}

impl Specs {
    pub fn as_slice(&self) -> &[ToolSpec] {
        match self {
            Specs::None => &[],
            Specs::All(set) => set.specs(),
            Specs::Some(specs) => specs,
        }
    }
}

/// A subset of a tool set's specs: which tools it keeps, and their specs.
pub(super) type Subset = (Vec<bool>, Arc<[ToolSpec]>);

/// Distinct subsets kept per tool set; a config has a handful of grants
/// (owner, group, non-owner, each rule's), so this is only a bound.
const MAX_SUBSETS: usize = 16;

/// The tools of `tools` that `grant` allows: a few string compares per
/// tool, and the specs are shared (the whole set, or a subset built once
/// per tool set and grant) instead of copied for each request.
pub(super) fn offer(tools: &Tools, grant: &Grant) -> Offer {
    let all = tools.set.specs();
    let keep: Vec<bool> = all.iter().map(|s| grant.offers(&s.name)).collect();
    let mut o = Offer::nothing();
    for (i, spec) in all.iter().enumerate() {
        if keep[i] {
            o.names.push(spec.name.clone());
            o.tokens += tools.tokens.get(i).copied().unwrap_or(0);
        }
    }
    if keep.iter().all(|k| *k) {
        o.specs = Specs::All(tools.set.clone());
        return o;
    }
    let mut subsets = tools.subsets.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, specs)) = subsets.iter().find(|(k, _)| *k == keep) {
        o.specs = Specs::Some(specs.clone());
        return o;
    }
    let specs: Arc<[ToolSpec]> = all
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(s, _)| s.clone())
        .collect();
    if subsets.len() >= MAX_SUBSETS {
        subsets.clear();
    }
    subsets.push((keep, specs.clone()));
    o.specs = Specs::Some(specs);
    o
}

/// Names only, for the system prompt.
pub(super) fn offered_names(tools: &Tools, grant: &Grant) -> Vec<String> {
    tools
        .names
        .iter()
        .filter(|n| grant.offers(n))
        .cloned()
        .collect()
}

/// What the gate decided about one call.
pub(super) enum Gated {
    /// Run this call: the model's own, or a `spawn` whose `tools` were
    /// narrowed to what this chat may use.
    Run(ToolCall),
    /// Not run; the model gets this instead.
    Refused(ToolOutput),
}

/// One call's end, ready to be recorded.
pub(super) struct Outcome {
    pub call: ToolCall,
    pub output: ToolOutput,
    pub took: Duration,
    /// The policy refused it: audited as denied.
    pub refused: bool,
}

impl Outcome {
    pub fn ran(call: ToolCall, output: ToolOutput, took: Duration) -> Outcome {
        Outcome {
            call,
            output,
            took,
            refused: false,
        }
    }

    pub fn refused(call: ToolCall, output: ToolOutput) -> Outcome {
        Outcome {
            call,
            output,
            took: Duration::ZERO,
            refused: true,
        }
    }
}

/// A `spawn` call with its `tools` narrowed to what `grant` offers without
/// asking: a subagent's calls pass no gate of their own, so it must not get
/// a tool this chat may not use, nor one that needs the user's yes. `None`
/// when nothing needs narrowing.
fn narrow_spawn(call: &ToolCall, names: &[String], grant: &Grant) -> Option<ToolCall> {
    let usable = |n: &str| n == "spawn" || (grant.offers(n) && !grant.confirms(n));
    if names.iter().all(|n| usable(n)) {
        return None;
    }
    let mut args: serde_json::Value = serde_json::from_str(&call.arguments).ok()?;
    let obj = args.as_object_mut()?;
    let kept: Vec<serde_json::Value> = match obj.get("tools") {
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter(|v| v.as_str().is_some_and(usable))
            .cloned()
            .collect(),
        _ => names
            .iter()
            .filter(|n| *n != "spawn" && usable(n))
            .map(|n| serde_json::Value::from(n.as_str()))
            .collect(),
    };
    obj.insert(String::from("tools"), serde_json::Value::Array(kept));
    Some(ToolCall {
        arguments: args.to_string(),
        ..call.clone()
    })
}

impl Agent {
    /// Decides whether `call` runs (and as what).
    pub(super) async fn gate(&self, at: &At<'_>, call: &ToolCall) -> Result<Gated, StoreError> {
        if !at.grant.offers(&call.name) {
            info!(
                "inbound {}: refused a call of {}, which this chat may not use",
                at.inbound_id, call.name
            );
            return Ok(Gated::Refused(ToolOutput::error(format!(
                "The tool '{}' is not available in this chat.",
                call.name
            ))));
        }
        if at.grant.confirms(&call.name) {
            if let Some(why) = self.confirm(at, call).await? {
                return Ok(Gated::Refused(ToolOutput::error(why)));
            }
        }
        if call.name == "spawn" {
            if let Some(narrowed) = narrow_spawn(call, &self.tools_now().names, &at.grant) {
                return Ok(Gated::Run(narrowed));
            }
        }
        Ok(Gated::Run(call.clone()))
    }

    /// Asks the user about `call` (or reads the answer a previous run of
    /// this turn recorded); `Some(why)` when it must not run.
    async fn confirm(&self, at: &At<'_>, call: &ToolCall) -> Result<Option<String>, StoreError> {
        let (inbound_id, call_id) = (at.inbound_id, call.id.clone());
        let known = self
            .db
            .call(move |s| s.confirmation(inbound_id, &call_id))
            .await?;
        let name = &call.name;
        let refusal = |status: ConfirmStatus| match status {
            ConfirmStatus::Approved | ConfirmStatus::Waiting => None,
            ConfirmStatus::Denied => Some(format!(
                "The user declined this {name} call; it was not run."
            )),
            ConfirmStatus::Timeout => Some(format!(
                "The user did not confirm this {name} call in time; it was not run."
            )),
            ConfirmStatus::Interrupted => Some(format!(
                "picoclaw restarted while waiting for the user to confirm this {name} call; it \
                 was not run. Ask the user whether to try again."
            )),
        };
        match known {
            Some((id, ConfirmStatus::Waiting)) => {
                // This turn was waiting when the process stopped.
                self.db
                    .call(move |s| s.decide_confirmation(id, ConfirmStatus::Interrupted))
                    .await?;
                return Ok(refusal(ConfirmStatus::Interrupted));
            }
            Some((_, status)) => return Ok(refusal(status)),
            None => {}
        }
        let Some(asker) = at.ask else {
            return Ok(Some(format!(
                "This {name} call needs the user's confirmation, which cannot be asked here; \
                 it was not run."
            )));
        };
        let text = asker.question(name, &call.arguments, at.chat_kind);
        let chunks = asker.sink.render(&text);
        let (caller, reply_to) = (at.caller.clone(), at.message_id.clone());
        let (call_id, tool) = (call.id.clone(), call.name.clone());
        let id = self
            .db
            .call(move |s| {
                let ask = ConfirmAsk {
                    inbound_id,
                    call_id: &call_id,
                    tool: &tool,
                    channel: &caller.channel,
                    chat_id: &caller.chat_id,
                    reply_to: reply_to.as_deref(),
                    chunks: &chunks,
                };
                s.ask_confirmation(&ask, confirm::buttons)
            })
            .await?;
        info!("inbound {inbound_id}: asked the user to confirm {name} (question {id})");
        let status = match asker.wait(id, &at.caller, at.cancel).await {
            Answer::Yes => ConfirmStatus::Approved,
            Answer::No | Answer::Cancelled => ConfirmStatus::Denied,
            Answer::Timeout => ConfirmStatus::Timeout,
        };
        self.db
            .call(move |s| s.decide_confirmation(id, status))
            .await?;
        Ok(refusal(status))
    }
}

#[cfg(test)]
mod tests {
    use picoclaw_core::{ChatKind, Inbound, InboundKind, Sender};

    use super::*;
    use crate::access::{Access, ChannelAccess, DmPolicy, ToolRule, DEFAULT_CONFIRM_TIMEOUT};

    fn grant(chat: ChatKind, rules: Vec<ToolRule>) -> Grant {
        let people = ChannelAccess {
            dm_policy: DmPolicy::Pairing,
            allow_from: Vec::new(),
            owners: vec![String::from("1")],
            everyone_owns: false,
        };
        let a = Access::new(
            vec![(String::from("t"), people)],
            rules,
            DEFAULT_CONFIRM_TIMEOUT,
        );
        a.grant(&Inbound {
            channel: "t".into(),
            event_id: "1".into(),
            chat_id: "c".into(),
            chat_kind: chat,
            sender: Sender {
                id: "1".into(),
                username: None,
                display: "O".into(),
            },
            message_id: None,
            kind: InboundKind::Text("hi".into()),
        })
    }

    fn spawn(args: &str) -> ToolCall {
        ToolCall {
            id: "c1".into(),
            name: "spawn".into(),
            arguments: args.into(),
        }
    }

    fn tools_of(call: &ToolCall) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&call.arguments).unwrap()["tools"].clone()
    }

    #[test]
    fn a_subagent_never_gets_a_tool_its_chat_may_not_use_or_must_confirm() {
        let names: Vec<String> = ["exec", "read_file", "write_file", "spawn"]
            .map(String::from)
            .to_vec();
        // An owner in a direct chat: nothing to narrow.
        let owner = grant(ChatKind::Direct, Vec::new());
        assert!(narrow_spawn(&spawn(r#"{"task":"x"}"#), &names, &owner).is_none());
        // In a group, "all of yours" becomes what the group may use, and
        // naming exec does not get it.
        let group = grant(ChatKind::Group, Vec::new());
        let all = narrow_spawn(&spawn(r#"{"task":"x"}"#), &names, &group).unwrap();
        assert_eq!(tools_of(&all), serde_json::json!(["read_file"]));
        let named = narrow_spawn(
            &spawn(r#"{"task":"x","tools":["exec","read_file","spawn"]}"#),
            &names,
            &group,
        )
        .unwrap();
        assert_eq!(tools_of(&named), serde_json::json!(["read_file", "spawn"]));
        assert_eq!(named.id, "c1");
        // A tool that needs the user's yes is never handed to a subagent,
        // which cannot ask.
        let confirm = grant(
            ChatKind::Direct,
            vec![ToolRule {
                confirm: vec!["exec".into()],
                ..ToolRule::default()
            }],
        );
        let c = narrow_spawn(&spawn(r#"{"task":"x"}"#), &names, &confirm).unwrap();
        assert_eq!(tools_of(&c), serde_json::json!(["read_file", "write_file"]));
    }
}
