//! Access control wiring: the policy the config describes, what start-up
//! says about it, and `picoclaw pairing list|approve|revoke` (run on the
//! host beside the daemon: both use the same database).

use picoclaw_agent::{normalize_pairing_code, pairing_now, Access, ChannelAccess, DmPolicy};
use picoclaw_config::Config;
use picoclaw_core::{info, warn};
use picoclaw_store::Approval;

use crate::cli::PairingAction;
use crate::{setup, Failure};

/// The channels that pair (the terminal needs no pairing).
const PAIRING_CHANNELS: &[&str] = &["telegram", "discord"];

/// Each enabled channel's people and the tool rules. The terminal
/// (`picoclaw agent`) is the host's own user: an owner.
pub fn policy(config: &Config) -> Access {
    let mut channels = vec![(String::from("cli"), ChannelAccess::local())];
    for name in PAIRING_CHANNELS {
        if let Some(c) = people(config, name) {
            channels.push((name.to_string(), c));
        }
    }
    Access::new(
        channels,
        config.tools.policy.clone(),
        config.tools.confirm_timeout,
    )
}

fn people(config: &Config, channel: &str) -> Option<ChannelAccess> {
    let (dm_policy, allow_from, owners) = match channel {
        "telegram" => config
            .telegram
            .as_ref()
            .map(|t| (t.dm_policy, &t.allow_from, &t.owners))?,
        "discord" => config
            .discord
            .as_ref()
            .map(|d| (d.dm_policy, &d.allow_from, &d.owners))?,
        _ => return None,
    };
    Some(ChannelAccess {
        dm_policy,
        allow_from: allow_from.clone(),
        owners: owners.clone(),
        everyone_owns: false,
    })
}

/// What the operator should know about a channel's access at start-up.
pub fn hints(config: &Config, channel: &str) {
    let Some(c) = people(config, channel) else {
        return;
    };
    if c.owners.is_empty() {
        warn!(
            "{channel}: channels.{channel}.owners is empty, so nobody there gets exec, file \
             writes or MCP tools, or can approve pairing codes with /pair; add your user id"
        );
    }
    match c.dm_policy {
        DmPolicy::Pairing => info!(
            "{channel}: strangers who write to the bot get a pairing code; approve with \
             `picoclaw pairing approve {channel} CODE`"
        ),
        DmPolicy::Allowlist if c.allow_from.is_empty() => warn!(
            "{channel}: dm_policy is \"allowlist\" and allow_from is empty, so only people \
             paired earlier can talk to the bot"
        ),
        DmPolicy::Allowlist => {}
        DmPolicy::Open => warn!("{channel}: everyone may talk to the bot (allow_from = [\"*\"])"),
    }
}

fn channel_arg(name: &str) -> Result<&str, Failure> {
    if PAIRING_CHANNELS.contains(&name) {
        Ok(name)
    } else {
        Err(Failure::Config(format!(
            "pairing: unknown channel {name:?}; use {}",
            PAIRING_CHANNELS.join(" or ")
        )))
    }
}

/// `picoclaw pairing …`.
pub fn run(config: &Config, action: PairingAction) -> Result<(), Failure> {
    let mut store = setup::open_store(config)?;
    let now = pairing_now();
    let failed = |e: picoclaw_store::StoreError| Failure::Runtime(e.to_string());
    match action {
        PairingAction::List => {
            let codes = store.pairing_codes(now).map_err(failed)?;
            let paired = store.paired().map_err(failed)?;
            println!("Pairing codes waiting for approval:");
            if codes.is_empty() {
                println!("  none");
            }
            for c in &codes {
                println!(
                    "  {:<9} {}  {}  expires in {}",
                    c.channel,
                    c.code,
                    who(&c.sender_id, c.username.as_deref(), &c.name),
                    ago(c.expires_at - now)
                );
            }
            println!("Approved by pairing:");
            if paired.is_empty() {
                println!("  none");
            }
            for p in &paired {
                println!(
                    "  {:<9} {}  approved {} ago by {}",
                    p.channel,
                    who(&p.sender_id, p.username.as_deref(), &p.name),
                    ago(now - p.approved_at),
                    p.approved_by
                );
            }
            for name in PAIRING_CHANNELS {
                if let Some(c) = people(config, name) {
                    println!(
                        "In the config ({name}): dm_policy = {}, owners = {:?}, allow_from = {:?}",
                        c.dm_policy.as_str(),
                        c.owners,
                        c.allow_from
                    );
                }
            }
            Ok(())
        }
        PairingAction::Approve { channel, code } => {
            let channel = channel_arg(&channel)?;
            let code = normalize_pairing_code(&code);
            match store
                .approve_pairing(channel, &code, now, "host")
                .map_err(failed)?
            {
                Approval::Approved(p) => {
                    println!(
                        "Approved {channel} {}: they can talk to the bot now.",
                        who(&p.sender_id, p.username.as_deref(), &p.name)
                    );
                    Ok(())
                }
                Approval::Unknown => Err(Failure::Config(format!(
                    "no pending pairing code {code} on {channel}; `picoclaw pairing list` \
                     shows the codes waiting"
                ))),
                Approval::Expired { sender_id, .. } => Err(Failure::Config(format!(
                    "pairing code {code} of {channel} user {sender_id} has expired; ask them \
                     to write to the bot again for a new one"
                ))),
            }
        }
        PairingAction::Revoke { channel, user } => {
            let channel = channel_arg(&channel)?;
            if store.revoke_pairing(channel, &user).map_err(failed)? {
                println!(
                    "Revoked {channel} user {user}: they are a stranger again (under \
                     dm_policy = \"pairing\" their next direct message gets a new code)."
                );
                Ok(())
            } else {
                Err(Failure::Config(format!(
                    "{channel} user {user} was not paired (people in allow_from or owners are \
                     removed in the config)"
                )))
            }
        }
    }
}

fn who(id: &str, username: Option<&str>, name: &str) -> String {
    match username {
        Some(u) => format!("user {id} (@{u}, {name})"),
        None => format!("user {id} ({name})"),
    }
}

fn ago(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}
