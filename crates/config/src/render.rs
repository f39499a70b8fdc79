//! `check-config` output: the effective configuration as TOML, with every
//! default filled in and secrets masked.

use std::fmt::Write;

use crate::{Config, SandboxBackend, SandboxMode, Secret, SecretSource, ToolUser};

fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn secret(s: &Secret, source: SecretSource) -> String {
    let from = match source {
        SecretSource::Inline => "inline",
        SecretSource::Env => "from environment",
        SecretSource::File => "from file",
    };
    format!("{}  # {from}", q(&s.masked()))
}

fn list<T: ToString>(items: &[T], quote: bool) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|i| {
            if quote {
                q(&i.to_string())
            } else {
                i.to_string()
            }
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

pub fn render(c: &Config) -> String {
    let mut o = String::new();
    let a = &c.agent;
    let _ = writeln!(o, "# effective configuration of {}", c.path.display());
    let _ = writeln!(
        o,
        "[agent]\nworkspace = {}",
        q(&a.workspace.display().to_string())
    );
    let _ = writeln!(
        o,
        "max_tool_iterations = {}\ncontext_window = {}",
        a.max_tool_iterations, a.context_window
    );
    let _ = writeln!(
        o,
        "max_history_messages = {}\ntool_result_max_bytes = {}",
        a.max_history_messages, a.tool_result_max_bytes
    );
    let _ = writeln!(o, "group_sessions_per_user = {}", a.group_sessions_per_user);
    if let Some(p) = &a.system_prompt {
        let _ = writeln!(o, "system_prompt = {}", q(p));
    }
    let _ = writeln!(
        o,
        "shutdown_timeout_secs = {}\n",
        a.shutdown_timeout.as_secs()
    );
    let _ = writeln!(
        o,
        "[store]\ndir = {}\ncache_size_kib = {}\n",
        q(&c.store.dir.display().to_string()),
        c.store.cache_size_kib
    );
    let _ = writeln!(o, "[log]\nlevel = {}\n", q(c.log.level.as_str()));
    match &c.telegram {
        None => {
            let _ = writeln!(o, "[channels.telegram]\nenabled = false\n");
        }
        Some(t) => {
            let _ = writeln!(
                o,
                "[channels.telegram]\nenabled = true\ntoken = {}",
                secret(&t.token, t.token_source)
            );
            let _ = writeln!(o, "api_base = {}", q(&t.api_base));
            if let Some(p) = &t.proxy {
                let _ = writeln!(o, "proxy = {}", q(p));
            }
            let _ = writeln!(o, "allow_from = {}", list(&t.allow_from, true));
            if let Some(g) = &t.group_trigger {
                let _ = writeln!(o, "group_trigger = {}", q(g));
            }
            let _ = writeln!(o, "poll_timeout_secs = {}\n", t.poll_timeout.as_secs());
        }
    }
    for p in &c.providers {
        let _ = writeln!(
            o,
            "[[providers]]\nname = {}\nkind = {}",
            q(&p.name),
            q(p.kind.as_str())
        );
        let _ = writeln!(o, "base_url = {}\nmodel = {}", q(&p.base_url), q(&p.model));
        if let (Some(k), Some(s)) = (&p.api_key, p.api_key_source) {
            let _ = writeln!(o, "api_key = {}", secret(k, s));
        }
        let _ = writeln!(o, "max_tokens = {}", p.max_tokens);
        if let Some(t) = p.temperature {
            let _ = writeln!(o, "temperature = {t}");
        }
        let _ = writeln!(
            o,
            "timeout_secs = {}\nmax_retries = {}",
            p.timeout.as_secs(),
            p.max_retries
        );
        if let Some(x) = &p.proxy {
            let _ = writeln!(o, "proxy = {}", q(x));
        }
        if !p.headers.is_empty() {
            let hs: Vec<String> = p
                .headers
                .iter()
                .map(|(k, v)| format!("{} = {}", q(k), q(v)))
                .collect();
            let _ = writeln!(o, "headers = {{ {} }}", hs.join(", "));
        }
        o.push('\n');
    }
    let t = &c.tools;
    let _ = writeln!(
        o,
        "[tools.exec]\nenabled = {}\ntimeout_secs = {}\nmax_timeout_secs = {}\n",
        t.exec_enabled,
        t.exec_timeout.as_secs(),
        t.exec_max_timeout.as_secs()
    );
    let _ = writeln!(
        o,
        "[tools.files]\nenabled = {}\nmax_read_bytes = {}\nmax_write_bytes = {}\n",
        t.files_enabled, t.max_read_bytes, t.max_write_bytes
    );
    let s = &c.sandbox;
    let mode = match s.mode {
        SandboxMode::Enforce => "enforce",
        SandboxMode::BestEffort => "best_effort",
        SandboxMode::Off => "off",
    };
    let backend = match s.backend {
        SandboxBackend::Auto => "auto",
        SandboxBackend::Landlock => "landlock",
        SandboxBackend::Namespaces => "namespaces",
        SandboxBackend::Both => "both",
    };
    let user = match &s.tool_user {
        ToolUser::Name(n) => q(n),
        ToolUser::Id(id) => id.to_string(),
    };
    let _ = writeln!(
        o,
        "[sandbox]\nmode = {}\nbackend = {}\ntool_user = {user}",
        q(mode),
        q(backend)
    );
    let _ = writeln!(o, "allow_net_ports = {}", list(&s.allow_net_ports, false));
    let extra: Vec<String> = s
        .extra_read_paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let _ = writeln!(o, "extra_read_paths = {}", list(&extra, true));
    let _ = writeln!(
        o,
        "cpu_secs = {}\nmemory_mib = {}\nfile_size_mib = {}",
        s.cpu_secs, s.memory_mib, s.file_size_mib
    );
    let _ = writeln!(
        o,
        "max_processes = {}\nmax_open_files = {}\noutput_limit_kib = {}",
        s.max_processes, s.max_open_files, s.output_limit_kib
    );
    o
}
