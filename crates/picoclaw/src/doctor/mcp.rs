//! doctor's MCP and skills lines: each server started as the daemon would
//! start it, with its state, sandbox label and tools; each skill file that
//! was skipped, as a warning (a bad skill is never fatal).

use picoclaw_config::Config;

use super::Report;

pub(super) fn check(r: &mut Report, config: &Config) {
    match crate::mcp::start(config, None) {
        Ok(None) => r.ok("mcp", "no servers configured"),
        Err(e) => r.fail("mcp", e.to_string()),
        Ok(Some(mcp)) => {
            mcp.wait_ready();
            for (ok, name, head, details) in mcp.report() {
                let what = format!("mcp {name}");
                if ok {
                    r.ok(&what, head);
                } else {
                    r.fail(&what, head);
                }
                r.lines
                    .extend(details.into_iter().map(|d| format!("        {d}")));
            }
            mcp.manager.shutdown();
        }
    }
    let Some(catalog) = crate::skills::catalog(config, &config.agent.workspace) else {
        r.ok("skills", "disabled");
        return;
    };
    let scan = catalog.current();
    let names: Vec<&str> = scan.skills.iter().map(|s| s.name.as_str()).collect();
    r.ok(
        "skills",
        format!(
            "{} found ({}) in {} and {}",
            names.len(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            },
            config.skills.dir.display(),
            config.agent.workspace.join("skills").display()
        ),
    );
    for p in &scan.problems {
        r.warn(
            "skill skipped",
            format!("{}: {}", p.path.display(), p.message),
        );
    }
}
