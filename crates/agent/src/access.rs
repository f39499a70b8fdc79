//! Who may talk and what each chat may do (issue 16).
//!
//! Channels report who sent what and where; this module decides, with the
//! store's paired people, whether the sender is an owner, a member (in
//! `allow_from` or paired) or a stranger, and which tools a turn may see.
//! The runtime applies it at three points: ingest drops messages from
//! strangers that nothing will answer ([`Access::screen`]), the worker
//! answers a stranger's direct message with a pairing code, and each turn
//! offers only the tools its [`Grant`] allows (and refuses the others if
//! the model calls them anyway).

use std::collections::HashMap;
use std::time::Duration;

use picoclaw_core::{info, ChatKind, Inbound, InboundKind};
use picoclaw_store::{Store, StoreError};

/// What happens to a direct message from someone not allowed to talk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DmPolicy {
    /// They get a one-time code an owner can approve.
    #[default]
    Pairing,
    /// Ignored: only `allow_from` and people paired earlier may talk.
    Allowlist,
    /// Everyone may talk (needs `"*"` in `allow_from`).
    Open,
}

impl DmPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DmPolicy::Pairing => "pairing",
            DmPolicy::Allowlist => "allowlist",
            DmPolicy::Open => "open",
        }
    }

    pub fn parse(s: &str) -> Option<DmPolicy> {
        Some(match s {
            "pairing" => DmPolicy::Pairing,
            "allowlist" => DmPolicy::Allowlist,
            "open" => DmPolicy::Open,
            _ => return None,
        })
    }
}

/// One channel's people.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelAccess {
    pub dm_policy: DmPolicy,
    /// User ids and `@usernames` (case-insensitive) who may talk; `"*"` is
    /// everyone.
    pub allow_from: Vec<String>,
    /// User ids with the owner role: privileged commands and tools.
    pub owners: Vec<String>,
    /// Everyone who may talk is an owner (the terminal's one local user).
    pub everyone_owns: bool,
}

impl ChannelAccess {
    /// The terminal: whoever types is the host's user, an owner.
    pub fn local() -> ChannelAccess {
        ChannelAccess {
            dm_policy: DmPolicy::Open,
            allow_from: vec![String::from("*")],
            owners: Vec::new(),
            everyone_owns: true,
        }
    }

    fn is_owner(&self, id: &str) -> bool {
        self.everyone_owns || self.owners.iter().any(|o| o == id)
    }

    fn allows(&self, id: &str, username: Option<&str>) -> bool {
        self.allow_from.iter().any(|e| {
            let e = e.trim();
            e == "*"
                || e == id
                || e.strip_prefix('@')
                    .is_some_and(|name| username.is_some_and(|u| u.eq_ignore_ascii_case(name)))
        })
    }
}

/// Tool policy for the turns it matches (every rule that matches applies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolRule {
    /// `None`: every channel.
    pub channel: Option<String>,
    /// `None`: direct and group chats.
    pub chat: Option<ChatKind>,
    /// Sender ids; empty: everyone.
    pub users: Vec<String>,
    /// Tool names or groups offered even where the defaults hold them back.
    pub allow: Vec<String>,
    /// Never offered; wins over `allow`.
    pub deny: Vec<String>,
    /// Run only after the user says yes in the chat.
    pub confirm: Vec<String>,
}

impl ToolRule {
    fn matches(&self, m: &Inbound) -> bool {
        self.channel.as_deref().is_none_or(|c| c == m.channel)
            && self.chat.is_none_or(|k| k == m.chat_kind)
            && (self.users.is_empty() || self.users.contains(&m.sender.id))
    }
}

/// Tool groups a policy may name instead of single tools.
pub const GROUPS: &[&str] = &["fs", "exec", "web", "memory", "schedule", "mcp", "spawn"];

/// What group chats and everyone but owners do not get unless a rule
/// allows it: running commands, changing files, MCP servers' tools.
pub const RESTRICTED: &[&str] = &["exec", "write_file", "edit_file", "mcp"];

/// The sender id of the heartbeat's scheduled turns (picoclaw-scheduler;
/// chat networks' user ids are numbers, so no person has it).
pub const HEARTBEAT_SENDER: &str = "heartbeat";

/// How long a question waits for its yes or no unless configured.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(120);

/// The group a tool belongs to, by its name: built-in names, and the
/// prefixes tool families share (`mcp_<server>_<tool>`, `memory_*`).
pub fn group_of(tool: &str) -> Option<&'static str> {
    let family = |p: &str| tool == p || tool.strip_prefix(p).is_some_and(|r| r.starts_with('_'));
    Some(match tool {
        "read_file" | "write_file" | "edit_file" | "list_dir" => "fs",
        "exec" => "exec",
        _ if family("web") => "web",
        _ if family("memory") => "memory",
        _ if family("schedule") => "schedule",
        _ if family("mcp") => "mcp",
        _ if family("spawn") => "spawn",
        _ => return None,
    })
}

/// Whether `list` names `tool` or its group.
fn names(list: &[String], tool: &str) -> bool {
    let group = group_of(tool);
    list.iter().any(|e| e == tool || Some(e.as_str()) == group)
}

/// Where a sender stands on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Owner,
    /// In `allow_from`, or paired.
    Member,
    Stranger,
}

/// The access policy of a runtime.
#[derive(Debug, Clone)]
pub struct Access {
    /// `false`: everyone is an owner and every tool is offered (a runtime
    /// built without a policy: library tests, embedding).
    enforce: bool,
    channels: HashMap<String, ChannelAccess>,
    rules: Vec<ToolRule>,
    pub confirm_timeout: Duration,
}

impl Default for Access {
    fn default() -> Self {
        Access::unrestricted()
    }
}

impl Access {
    /// No access control at all. The binary always builds a policy from
    /// the config instead ([`Access::new`]).
    pub fn unrestricted() -> Access {
        Access {
            enforce: false,
            channels: HashMap::new(),
            rules: Vec::new(),
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
        }
    }

    /// A policy: the listed channels' people (a channel not listed lets
    /// nobody in) and the tool rules.
    pub fn new(
        channels: Vec<(String, ChannelAccess)>,
        rules: Vec<ToolRule>,
        confirm_timeout: Duration,
    ) -> Access {
        Access {
            enforce: true,
            channels: channels.into_iter().collect(),
            rules,
            confirm_timeout,
        }
    }

    pub fn channel(&self, name: &str) -> Option<&ChannelAccess> {
        self.channels.get(name)
    }

    /// An owner by the config (no store needed).
    pub fn is_owner(&self, channel: &str, sender_id: &str) -> bool {
        !self.enforce || self.channel(channel).is_some_and(|c| c.is_owner(sender_id))
    }

    /// Whether `m` comes with the owner role: its sender is an owner, or
    /// it is the heartbeat (the host's own config started it; it ticks off
    /// tasks in the workspace's HEARTBEAT.md).
    fn owns(&self, m: &Inbound) -> bool {
        let heartbeat =
            matches!(m.kind, InboundKind::Scheduled(_)) && m.sender.id == HEARTBEAT_SENDER;
        heartbeat || self.is_owner(&m.channel, &m.sender.id)
    }

    /// Owner and `allow_from` come from the config; only someone in
    /// neither costs a store lookup. A scheduled job's turn stands as the
    /// person who set the job stands now: revoking them stops their jobs.
    pub fn standing(&self, store: &Store, m: &Inbound) -> Result<Standing, StoreError> {
        if !self.enforce || self.owns(m) {
            return Ok(Standing::Owner);
        }
        let Some(c) = self.channel(&m.channel) else {
            return Ok(Standing::Stranger);
        };
        if c.allows(&m.sender.id, m.sender.username.as_deref())
            || store.is_paired(&m.channel, &m.sender.id)?
        {
            return Ok(Standing::Member);
        }
        Ok(Standing::Stranger)
    }

    /// Whether a stranger's message gets a pairing code (never a
    /// scheduled turn: nobody is there to read it).
    pub fn pairs(&self, m: &Inbound) -> bool {
        m.chat_kind == ChatKind::Direct
            && matches!(
                m.kind,
                InboundKind::Text(_) | InboundKind::Media { .. } | InboundKind::Unsupported(_)
            )
            && self
                .channel(&m.channel)
                .is_some_and(|c| c.dm_policy == DmPolicy::Pairing)
    }

    /// Drops, before they are stored, the events nothing will answer:
    /// strangers' messages, except direct ones on a pairing channel (they
    /// get a code). Button presses pass: they are routed at arrival. Only
    /// the sender's id is logged, never the text.
    pub fn screen(&self, store: &Store, items: Vec<Inbound>) -> Result<Vec<Inbound>, StoreError> {
        if !self.enforce {
            return Ok(items);
        }
        let mut kept = Vec::with_capacity(items.len());
        for m in items {
            let press = matches!(m.kind, InboundKind::Button(_));
            if press || self.pairs(&m) || self.standing(store, &m)? != Standing::Stranger {
                kept.push(m);
                continue;
            }
            let why = match (m.chat_kind, self.channel(&m.channel)) {
                (_, None) => "this channel has no access policy",
                (ChatKind::Group, _) => "not in allow_from and not paired",
                (ChatKind::Direct, _) => "not in allow_from and not paired; dm_policy is allowlist",
            };
            info!(
                "{}: ignoring event {} from user {}: {why}",
                m.channel, m.event_id, m.sender.id
            );
        }
        Ok(kept)
    }

    /// Whether some group chat may be offered `tool` (for `picoclaw
    /// doctor`): it is not held back by default, or a rule that can match
    /// a group chat allows it, and no rule for every group chat denies it.
    /// Errs towards yes: a per-channel or per-user deny is not counted.
    pub fn offered_in_some_group(&self, tool: &str) -> bool {
        if !self.enforce {
            return true;
        }
        let groups = |r: &&ToolRule| r.chat != Some(ChatKind::Direct);
        let everywhere = |r: &&ToolRule| groups(r) && r.channel.is_none() && r.users.is_empty();
        if self
            .rules
            .iter()
            .filter(everywhere)
            .any(|r| names(&r.deny, tool))
        {
            return false;
        }
        !names_restricted(tool)
            || self
                .rules
                .iter()
                .filter(groups)
                .any(|r| names(&r.allow, tool))
    }

    /// What the sender of `m` may use in this turn.
    pub(crate) fn grant(&self, m: &Inbound) -> Grant {
        if !self.enforce {
            return Grant::everything();
        }
        let mut g = Grant {
            enforce: true,
            restricted: m.chat_kind == ChatKind::Group || !self.owns(m),
            allow: Vec::new(),
            deny: Vec::new(),
            confirm: Vec::new(),
        };
        for r in self.rules.iter().filter(|r| r.matches(m)) {
            g.allow.extend(r.allow.iter().cloned());
            g.deny.extend(r.deny.iter().cloned());
            g.confirm.extend(r.confirm.iter().cloned());
        }
        g
    }
}

/// The tools one turn may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Grant {
    enforce: bool,
    /// A group chat or a non-owner: [`RESTRICTED`] applies.
    restricted: bool,
    allow: Vec<String>,
    deny: Vec<String>,
    confirm: Vec<String>,
}

impl Grant {
    pub fn everything() -> Grant {
        Grant::default()
    }

    /// Whether the model is offered `tool` (and may call it).
    pub fn offers(&self, tool: &str) -> bool {
        if !self.enforce {
            return true;
        }
        if names(&self.deny, tool) {
            return false;
        }
        !(self.restricted && names_restricted(tool)) || names(&self.allow, tool)
    }

    /// Whether a call of `tool` waits for the user's yes.
    pub fn confirms(&self, tool: &str) -> bool {
        names(&self.confirm, tool)
    }
}

fn names_restricted(tool: &str) -> bool {
    let group = group_of(tool);
    RESTRICTED.iter().any(|e| *e == tool || Some(*e) == group)
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
