//! Command-line parsing (lexopt: a few KiB instead of clap's few hundred).

use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
picoclaw — a tiny, sandboxed personal AI agent

Usage:
  picoclaw [--config PATH]                 run the daemon (all enabled channels)
  picoclaw check-config [--config PATH]    validate and print the effective config (secrets masked)
  picoclaw doctor [--probe] [--config PATH] report what this host offers and what works
  picoclaw sandbox run [--config PATH] -- CMD…  run CMD under the configured sandbox
  picoclaw sandbox explain [--config PATH] print the effective sandbox rules
  picoclaw agent [-m TEXT] [--config PATH] one turn with TEXT, or a chat on stdin
  picoclaw usage [--since 7d] [--config PATH] tokens and model calls per chat
  picoclaw schedule list|remove ID [--config PATH]  scheduled jobs of every chat
  picoclaw mcp list | call SERVER TOOL [JSON]  MCP servers, their state and tools; call one
  picoclaw skills list [--config PATH]     the skills found, and files skipped
  picoclaw audit [--since 1h] [--chat ID] [--json] [--config PATH] tool calls
  picoclaw onboard [--config PATH] [--force] [flags]  set picoclaw up (asks, or takes flags)
  picoclaw pairing list|approve CHANNEL CODE|revoke CHANNEL USER  who may talk
  picoclaw help [COMMAND]                  help for a command
  picoclaw --version

Config: --config PATH, else $PICOCLAW_CONFIG, else /etc/picoclaw/config.toml,
else $XDG_CONFIG_HOME/picoclaw/config.toml.
Exit status: 0 ok, 1 runtime failure (worth retrying), 2 usage, config or
state error that needs a person (a damaged database, a bad config).";

const RUN_HELP: &str = "\
Usage: picoclaw [run] [--config PATH]

Runs the daemon: long-polls every enabled channel, answers with the configured
providers, runs tools in the sandbox. SIGTERM/SIGINT stop it gracefully
(agent.shutdown_timeout_secs); SIGHUP re-reads the config and applies
log.level (other changes need a restart). Under systemd (Type=notify) it sends
READY=1, STOPPING=1 and WATCHDOG=1 pings.";

const CHECK_HELP: &str = "\
Usage: picoclaw check-config [--config PATH]

Parses and validates the config, resolves secrets, and prints the effective
configuration with every default filled in and secrets masked. Exit 0 when
valid, 2 with file:line:col and the key when not.";

const DOCTOR_HELP: &str = "\
Usage: picoclaw doctor [--probe] [--config PATH]

Reports the kernel, Landlock ABI, namespaces, seccomp, the user picoclaw runs
as, whether the state directory is writable and the database healthy, and
whether the Telegram token is accepted. Exit 0 when everything needed works,
1 otherwise. With --probe, also runs a live self-test of each sandbox backend
on this kernel (write outside the workspace, read the config, read another
process's environ, TCP and UDP to loopback, signal picoclaw, a fork bomb) and
prints probe x backend -> blocked / NOT BLOCKED; exit 1 if the configured
backend lets anything through.";

const SANDBOX_HELP: &str = "\
Usage: picoclaw sandbox run [--config PATH] -- CMD [ARGS…]
       picoclaw sandbox explain [--config PATH]

run: runs CMD under the sandbox policy the exec tool uses (workspace =
agent.workspace), prints its output and the enforcement label, and exits with
its exit code. explain: prints the effective rules on this kernel.";

const AGENT_HELP: &str = "\
Usage: picoclaw agent [-m TEXT] [--config PATH]

Talks to the agent from the terminal, through the same code path as the
channels (history, tools, sandbox). With -m, runs one turn and prints the
answer; without, reads one message per line from stdin (/new, /status work).";

const USAGE_HELP: &str = "\
Usage: picoclaw usage [--since DURATION] [--config PATH]

Prints tokens and model calls per chat from the database, most used first.
DURATION is a number with s, m, h or d (7d, 24h); the default is since
midnight UTC today.";
const SCHEDULE_HELP: &str = "\
Usage: picoclaw schedule list [--config PATH]
       picoclaw schedule remove ID [--config PATH]

list: every chat's scheduled jobs (id, channel and chat, when next due, what
they do). remove: deletes job ID, whichever chat set it. Reads the state
database directly; a running daemon notices a removal at its next wake-up
(it never fires a removed job).";

const MCP_HELP: &str = "\
Usage: picoclaw mcp list [--config PATH]
       picoclaw mcp call [--config PATH] SERVER TOOL [JSON]

list: starts every configured MCP server ([mcp.servers.NAME]) as the daemon
would (stdio servers inside the sandbox), waits for them, and prints each
one's state, sandbox label and offered tools; exit 1 if one is not ready.
call: starts SERVER alone and calls TOOL (the server's own name) with the JSON
object arguments (default {}); prints the result as the model would see it;
exit 1 on failure. Tools outside enabled_tools can be called here.";

const SKILLS_HELP: &str = "\
Usage: picoclaw skills list [--config PATH]

Lists the skills found in [skills] dir and the workspace's skills/ (name,
description, file), then every SKILL.md that was skipped and why.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpAction {
    List,
    Call {
        server: String,
        tool: String,
        args: String,
    },
}

const AUDIT_HELP: &str = "\
Usage: picoclaw audit [--since DURATION] [--chat ID] [--json] [--config PATH]

Prints the tool-call audit log: time, chat, user, tool, arguments (secrets
redacted), ok/error/denied, exit code, duration and the sandbox label, oldest
first. DURATION is a number with s, m, h or d (default 1d). --chat takes a
chat id or CHANNEL:ID (telegram:42). --json prints one JSON object per line.
Rows older than [audit] retention_days are deleted daily by the daemon.";

const ONBOARD_HELP: &str = "\
Usage: picoclaw onboard [--config PATH] [--force] [--yes] [--no-check]
         [--provider NAME] [--model M] [--base-url URL] [--api-key KEY]
         [--telegram-token T] [--discord-token T] [--owner ID]
         [--workspace DIR] [--state-dir DIR]
         [--telegram-api-base URL] [--discord-api-base URL]

Asks for the provider (openai, anthropic, openrouter, groq, deepseek, gemini,
ollama; any OpenAI-compatible server with --base-url), model and API key,
a Telegram and/or Discord bot token and your user id there; checks each key
against its endpoint when reachable (offline: says so and goes on; a refused
key writes nothing); writes config.toml with mode 600 and a workspace with
starter AGENTS.md, SOUL.md and USER.md; prints the next command.

Without a terminal (or with --yes) nothing is asked: flags, then the usual
environment variables (OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENROUTER_API_KEY,
GROQ_API_KEY, DEEPSEEK_API_KEY, GEMINI_API_KEY, TELEGRAM_BOT_TOKEN,
DISCORD_BOT_TOKEN), and --provider is required. Keys in flags show in `ps`;
prefer the environment.

The config goes to --config PATH, else $PICOCLAW_CONFIG, else
/etc/picoclaw/config.toml (root) or ~/.config/picoclaw/config.toml. An
existing file is replaced only with --force.";

const PAIRING_HELP: &str = "\
Usage: picoclaw pairing list [--config PATH]
       picoclaw pairing approve CHANNEL CODE [--config PATH]
       picoclaw pairing revoke CHANNEL USER_ID [--config PATH]

A stranger who writes to the bot directly (dm_policy = \"pairing\") gets a
one-time 8-character code, valid for an hour; at most 3 wait per channel.
list: the codes waiting and the people approved so far. approve: lets the
code's owner talk to the bot (an owner can also send /pair CODE in a chat).
revoke: forgets an approved person. CHANNEL is telegram or discord. Works
beside the running daemon.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingAction {
    List,
    Approve { channel: String, code: String },
    Revoke { channel: String, user: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run,
    Pairing(PairingAction),
    /// `since`: seconds back from now; `None`: today (UTC).
    Usage {
        since: Option<u64>,
    },
    Audit(crate::audit::Query),
    Onboard(crate::onboard::Args),
    CheckConfig,
    Doctor {
        probe: bool,
    },
    Sandbox(SandboxAction),
    Mcp(McpAction),
    SkillsList,
    Agent {
        message: Option<String>,
    },
    Schedule(ScheduleAction),
    Help(Option<String>),
    Version,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxAction {
    Run(Vec<String>),
    Explain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleAction {
    List,
    Remove(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    pub command: Command,
    pub config: Option<PathBuf>,
}

pub fn help_for(command: Option<&str>) -> Option<&'static str> {
    Some(match command {
        None => USAGE,
        Some("run") => RUN_HELP,
        Some("check-config") => CHECK_HELP,
        Some("doctor") => DOCTOR_HELP,
        Some("agent") => AGENT_HELP,
        Some("sandbox") => SANDBOX_HELP,
        Some("usage") => USAGE_HELP,
        Some("schedule") => SCHEDULE_HELP,
        Some("mcp") => MCP_HELP,
        Some("skills") => SKILLS_HELP,
        Some("audit") => AUDIT_HELP,
        Some("onboard") => ONBOARD_HELP,
        Some("pairing") => PAIRING_HELP,
        Some(_) => return None,
    })
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut command: Option<String> = None;
    let mut config = None;
    let mut message = None;
    let mut help = false;
    let mut help_topic = None;
    let mut probe = false;
    let mut onboard = crate::onboard::Args::default();
    let mut since = None;
    let mut chat = None;
    let mut json = false;
    let mut rest: Vec<String> = Vec::new();
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('c') | Long("config") => {
                config = Some(PathBuf::from(p.value().map_err(|e| e.to_string())?));
            }
            Short('h') | Long("help") => help = true,
            Short('V') | Long("version") if command.is_none() => {
                return Ok(Cli {
                    command: Command::Version,
                    config,
                })
            }
            Short('m') | Long("message") if command.as_deref() == Some("agent") => {
                let v = p.value().map_err(|e| e.to_string())?;
                message = Some(
                    v.into_string()
                        .map_err(|_| String::from("-m: not valid UTF-8"))?,
                );
            }
            Value(v) if command.is_none() => {
                command = Some(
                    v.into_string()
                        .map_err(|_| String::from("command is not valid UTF-8"))?,
                );
            }
            Long("probe") if command.as_deref() == Some("doctor") => probe = true,
            Long(name) if command.as_deref() == Some("onboard") && name != "config" => {
                let name = name.to_string();
                if !onboard.take(&name, &mut p)? {
                    return Err(format!(
                        "onboard: unknown option --{name}; see `picoclaw onboard --help`"
                    ));
                }
            }
            Long("chat") if command.as_deref() == Some("audit") => {
                let v = p.value().map_err(|e| e.to_string())?;
                chat = Some(
                    v.into_string()
                        .map_err(|_| String::from("--chat: not valid UTF-8"))?,
                );
            }
            Long("json") if command.as_deref() == Some("audit") => json = true,
            Long("since") if matches!(command.as_deref(), Some("usage" | "audit")) => {
                let v = p.value().map_err(|e| e.to_string())?;
                let v = v.to_string_lossy();
                since = Some(parse_duration(&v).ok_or_else(|| {
                    format!("--since {v:?}: use a number with s, m, h or d, e.g. 7d")
                })?);
            }
            Value(v)
                if matches!(
                    command.as_deref(),
                    Some("sandbox" | "schedule" | "mcp" | "skills" | "pairing")
                ) =>
            {
                rest.push(
                    v.into_string()
                        .map_err(|_| String::from("argument is not valid UTF-8"))?,
                );
            }
            Value(v) if command.as_deref() == Some("help") && help_topic.is_none() => {
                help_topic = v.into_string().ok();
            }
            other => {
                let cmd = command.as_deref().unwrap_or("picoclaw");
                return Err(format!("{cmd}: {}", other.unexpected()));
            }
        }
    }
    let name = command.as_deref().unwrap_or("run");
    if help {
        return Ok(Cli {
            command: Command::Help(Some(name.to_string()).filter(|_| command.is_some())),
            config,
        });
    }
    let command = match name {
        "run" => Command::Run,
        "check-config" => Command::CheckConfig,
        "doctor" => Command::Doctor { probe },
        "sandbox" => match rest.split_first() {
            Some((action, argv)) if action == "run" && !argv.is_empty() => {
                Command::Sandbox(SandboxAction::Run(argv.to_vec()))
            }
            Some((action, [])) if action == "explain" => Command::Sandbox(SandboxAction::Explain),
            _ => {
                return Err(String::from(
                    "usage: picoclaw sandbox run -- CMD… | picoclaw sandbox explain",
                ))
            }
        },
        "mcp" => match rest.as_slice() {
            [a] if a == "list" => Command::Mcp(McpAction::List),
            [a, server, tool, args @ ..] if a == "call" && args.len() <= 1 => {
                Command::Mcp(McpAction::Call {
                    server: server.clone(),
                    tool: tool.clone(),
                    args: args.first().cloned().unwrap_or_else(|| "{}".into()),
                })
            }
            _ => {
                return Err(String::from(
                    "usage: picoclaw mcp list | picoclaw mcp call SERVER TOOL [JSON]",
                ))
            }
        },
        "skills" => match rest.as_slice() {
            [a] if a == "list" => Command::SkillsList,
            _ => return Err(String::from("usage: picoclaw skills list")),
        },
        "agent" => Command::Agent { message },
        "pairing" => Command::Pairing(pairing_action(&rest)?),
        "usage" => Command::Usage { since },
        "schedule" => match rest.as_slice() {
            [a] if a == "list" => Command::Schedule(ScheduleAction::List),
            [a, id] if a == "remove" => match id.trim_start_matches('#').parse() {
                Ok(id) => Command::Schedule(ScheduleAction::Remove(id)),
                Err(_) => return Err(format!("schedule remove: {id:?} is not a job id")),
            },
            _ => {
                return Err(String::from(
                    "usage: picoclaw schedule list | picoclaw schedule remove ID",
                ))
            }
        },
        "audit" => Command::Audit(crate::audit::Query { since, chat, json }),
        "onboard" => Command::Onboard(onboard),
        "help" => Command::Help(help_topic),
        "version" => Command::Version,
        other => return Err(format!("unknown command {other:?}; see `picoclaw --help`")),
    };
    Ok(Cli { command, config })
}

fn pairing_action(rest: &[String]) -> Result<PairingAction, String> {
    let args: Vec<&str> = rest.iter().map(String::as_str).collect();
    Ok(match args.as_slice() {
        ["list"] => PairingAction::List,
        ["approve", channel, code] => PairingAction::Approve {
            channel: channel.to_string(),
            code: code.to_string(),
        },
        ["revoke", channel, user] => PairingAction::Revoke {
            channel: channel.to_string(),
            user: user.to_string(),
        },
        _ => {
            return Err(String::from(
                "usage: picoclaw pairing list | approve CHANNEL CODE | revoke CHANNEL USER_ID",
            ))
        }
    })
}

/// `90s`, `30m`, `24h`, `7d` in seconds.
fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_since_takes_a_number_and_a_unit() {
        assert_eq!(
            p(&["usage", "--since", "7d"]).unwrap().command,
            Command::Usage {
                since: Some(7 * 86_400)
            }
        );
        assert_eq!(
            p(&["usage"]).unwrap().command,
            Command::Usage { since: None }
        );
        assert!(p(&["usage", "--since", "7 days"]).is_err());
        assert!(p(&["usage", "--since", "d"]).is_err());
    }

    fn p(args: &[&str]) -> Result<Cli, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn audit_takes_since_chat_and_json() {
        assert_eq!(
            p(&["audit", "--since", "1h", "--chat", "telegram:42", "--json"])
                .unwrap()
                .command,
            Command::Audit(crate::audit::Query {
                since: Some(3600),
                chat: Some("telegram:42".into()),
                json: true
            })
        );
        assert_eq!(
            p(&["audit"]).unwrap().command,
            Command::Audit(crate::audit::Query::default())
        );
        assert!(p(&["usage", "--json"]).is_err());
    }

    #[test]
    fn onboard_takes_its_flags_and_refuses_unknown_ones() {
        let c = p(&[
            "onboard",
            "--provider",
            "ollama",
            "--yes",
            "--owner=42",
            "--config",
            "/c.toml",
        ])
        .unwrap();
        let Command::Onboard(a) = c.command else {
            panic!("{c:?}")
        };
        assert_eq!(
            (a.provider.as_deref(), a.owner.as_deref(), a.yes, a.force),
            (Some("ollama"), Some("42"), true, false)
        );
        assert_eq!(c.config, Some(PathBuf::from("/c.toml")));
        assert!(p(&["onboard", "--frobnicate"]).is_err());
        assert!(p(&["doctor", "--provider", "x"]).is_err());
    }

    #[test]
    fn config_flag_works_before_and_after_the_command() {
        let a = p(&["--config", "/x.toml", "doctor"]).unwrap();
        let b = p(&["doctor", "--config=/x.toml"]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.command, Command::Doctor { probe: false });
        assert_eq!(a.config, Some(PathBuf::from("/x.toml")));
        assert_eq!(p(&[]).unwrap().command, Command::Run);
    }

    #[test]
    fn agent_takes_a_message_and_others_do_not() {
        let c = p(&["agent", "-m", "hi there"]).unwrap();
        assert_eq!(
            c.command,
            Command::Agent {
                message: Some("hi there".into())
            }
        );
        assert!(p(&["doctor", "-m", "x"]).is_err());
    }

    #[test]
    fn doctor_probe_and_sandbox_subcommands_parse() {
        assert_eq!(
            p(&["doctor", "--probe"]).unwrap().command,
            Command::Doctor { probe: true }
        );
        assert!(p(&["agent", "--probe"]).is_err());
        let c = p(&["sandbox", "run", "--config", "/c.toml", "--", "ls", "-la"]).unwrap();
        assert_eq!(
            c.command,
            Command::Sandbox(SandboxAction::Run(vec!["ls".into(), "-la".into()]))
        );
        assert_eq!(c.config, Some(PathBuf::from("/c.toml")));
        assert_eq!(
            p(&["sandbox", "explain"]).unwrap().command,
            Command::Sandbox(SandboxAction::Explain)
        );
        assert!(p(&["sandbox", "run"]).is_err());
        assert!(p(&["sandbox"]).is_err());
    }

    #[test]
    fn schedule_lists_or_removes_one_job() {
        assert_eq!(
            p(&["schedule", "list"]).unwrap().command,
            Command::Schedule(ScheduleAction::List)
        );
        assert_eq!(
            p(&["schedule", "remove", "#7", "--config", "/c"])
                .unwrap()
                .command,
            Command::Schedule(ScheduleAction::Remove(7))
        );
        assert!(p(&["schedule", "remove", "x"]).is_err());
        assert!(p(&["schedule"]).is_err());
    }

    #[test]
    fn mcp_and_skills_subcommands_parse() {
        assert_eq!(
            p(&["mcp", "list"]).unwrap().command,
            Command::Mcp(McpAction::List)
        );
        assert_eq!(
            p(&["mcp", "call", "fs", "read_text_file", r#"{"path":"/x"}"#])
                .unwrap()
                .command,
            Command::Mcp(McpAction::Call {
                server: "fs".into(),
                tool: "read_text_file".into(),
                args: r#"{"path":"/x"}"#.into()
            })
        );
        assert_eq!(
            p(&["mcp", "call", "fs", "t"]).unwrap().command,
            Command::Mcp(McpAction::Call {
                server: "fs".into(),
                tool: "t".into(),
                args: "{}".into()
            })
        );
        assert!(p(&["mcp"]).is_err());
        assert!(p(&["mcp", "call", "fs"]).is_err());
        assert!(p(&["mcp", "call", "fs", "t", "{}", "extra"]).is_err());
        assert_eq!(p(&["skills", "list"]).unwrap().command, Command::SkillsList);
        assert!(p(&["skills"]).is_err());
    }

    #[test]
    fn pairing_takes_list_approve_and_revoke_with_their_arguments() {
        assert_eq!(
            p(&["pairing", "list"]).unwrap().command,
            Command::Pairing(PairingAction::List)
        );
        assert_eq!(
            p(&["pairing", "approve", "telegram", "ABCD2345", "--config", "/c"])
                .unwrap()
                .command,
            Command::Pairing(PairingAction::Approve {
                channel: "telegram".into(),
                code: "ABCD2345".into()
            })
        );
        assert_eq!(
            p(&["pairing", "revoke", "discord", "42"]).unwrap().command,
            Command::Pairing(PairingAction::Revoke {
                channel: "discord".into(),
                user: "42".into()
            })
        );
        assert!(p(&["pairing"]).is_err());
        assert!(p(&["pairing", "approve", "telegram"]).is_err());
        assert!(p(&["pairing", "list", "extra"]).is_err());
    }

    #[test]
    fn help_is_per_subcommand_and_unknown_commands_fail() {
        assert_eq!(
            p(&["doctor", "--help"]).unwrap().command,
            Command::Help(Some("doctor".into()))
        );
        assert_eq!(p(&["-h"]).unwrap().command, Command::Help(None));
        assert_eq!(
            p(&["help", "agent"]).unwrap().command,
            Command::Help(Some("agent".into()))
        );
        assert!(p(&["frobnicate"]).unwrap_err().contains("unknown command"));
        assert!(p(&["--bogus"]).is_err());
    }
}
