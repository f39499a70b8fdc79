//! SKILL.md skills through the real binary: listed in the system prompt by
//! name and description only, loaded with the `skill` tool, bad files
//! reported by `skills list` and doctor without stopping anything.

use std::path::Path;

use serde_json::Value;

use crate::util::*;

fn skill(root: &Path, name: &str, frontmatter: &str, body: &str) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("SKILL.md"),
        format!("---\n{frontmatter}\n---\n{body}"),
    )
    .unwrap();
}

fn system_prompt(req: &Value) -> String {
    req["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn tool_names(req: &Value) -> Vec<String> {
    req["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn skills_are_listed_by_description_loaded_with_the_skill_tool_and_bad_ones_reported() {
    let mut p = Picoclaw::with_config("skills", "[skills]\ndir = \"global-skills\"\n");
    let global = p.dir.path().join("global-skills");
    let local = p.workspace().join("skills");
    skill(
        &global,
        "weather",
        "name: weather\ndescription: Looks up the forecast",
        "Use web_fetch on wttr.in.",
    );
    skill(
        &local,
        "greet",
        "name: greet\ndescription: \"Greets people\"\nmetadata:\n  author: ada",
        "Say hello in French.",
    );
    skill(&local, "bad", "name: bad", "never listed");

    let out = p.run_cli(&["skills", "list"]);
    let text = stdout_of(&out);
    assert!(out.status.success(), "{text}");
    let bad = local.join("bad/SKILL.md").canonicalize().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "weather: Looks up the forecast", "{text}");
    assert_eq!(lines[2], "greet: Greets people", "{text}");
    assert_eq!(lines[4], "  author: ada", "{text}");
    assert!(
        text.contains(&format!(
            "skipped {}: `description` is missing",
            local.join("bad/SKILL.md").display()
        )) || text.contains(&format!(
            "skipped {}: `description` is missing",
            bad.display()
        )),
        "{text}"
    );

    let out = p.run_cli(&["doctor"]);
    let doctor = stdout_of(&out);
    assert!(
        doctor.contains("ok    skills: 2 found (weather, greet)"),
        "{doctor}"
    );
    assert!(doctor.contains("warn  skill skipped: "), "{doctor}");
    assert!(
        doctor.contains("bad/SKILL.md: `description` is missing"),
        "{doctor}"
    );
    assert!(
        !doctor.contains("FAIL"),
        "a bad skill is not a failure:\n{doctor}"
    );

    p.start();
    p.say(r#"[[call skill {"name":"greet"}]]"#);
    assert_eq!(
        p.replies(1),
        ["done: Skill greet (its files are in skills/gre"]
    );
    let result = &p.tool_messages(1)[0];
    assert!(result.ends_with("\n\nSay hello in French."), "{result}");
    let first = &p.llm.requests()[0].body;
    let prompt = system_prompt(first);
    assert!(
        prompt.contains("## Skills\nInstructions for particular tasks. When one fits the task, load it with the `skill` tool and follow it.\n- weather: Looks up the forecast\n- greet: Greets people"),
        "{prompt}"
    );
    assert!(!prompt.contains("Say hello in French"), "{prompt}");
    assert!(!prompt.contains("never listed"), "{prompt}");
    assert!(tool_names(first).contains(&"skill".to_string()));
}

#[test]
fn without_skills_there_is_no_skill_tool_and_no_listing() {
    let mut p = Picoclaw::new("no-skills");
    p.start();
    p.say("hi");
    assert_eq!(p.replies(1), ["echo: hi"]);
    let first = &p.llm.requests()[0].body;
    assert!(!system_prompt(first).contains("## Skills"));
    assert!(!tool_names(first).contains(&"skill".to_string()));
}
