#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use picoclaw_core::{Cancel, ToolContext};
use picoclaw_skills::{Catalog, SkillsOptions};
use serde_json::json;

struct Tmp(PathBuf);

impl Tmp {
    fn new() -> Tmp {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "picoclaw-skills-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("global")).unwrap();
        std::fs::create_dir_all(p.join("ws/skills")).unwrap();
        Tmp(p)
    }
    fn global(&self) -> PathBuf {
        self.0.join("global")
    }
    fn ws(&self) -> PathBuf {
        self.0.join("ws")
    }
    fn catalog(&self, max_listed: usize) -> std::sync::Arc<Catalog> {
        Catalog::new(SkillsOptions {
            global: Some(self.global()),
            workspace: Some(self.ws()),
            max_listed,
        })
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn skill(root: &Path, dir: &str, frontmatter: &str, body: &str) {
    std::fs::create_dir_all(root.join(dir)).unwrap();
    std::fs::write(
        root.join(dir).join("SKILL.md"),
        format!("---\n{frontmatter}\n---\n{body}"),
    )
    .unwrap();
}

fn ctx() -> ToolContext {
    ToolContext {
        workspace: std::env::temp_dir(),
        session: "t".into(),
        caller: Default::default(),
        timeout: Duration::from_secs(5),
        cancel: Cancel::new(),
    }
}

#[test]
fn global_and_workspace_skills_are_listed_by_name_with_one_line_capped_descriptions() {
    let t = Tmp::new();
    skill(
        &t.global(),
        "weather",
        "name: weather\ndescription: >\n  Looks up the\n  forecast.",
        "Use web_fetch.",
    );
    let long = "word ".repeat(100);
    skill(
        &t.ws().join("skills"),
        "notes",
        &format!("name: notes\ndescription: {long}"),
        "Keep notes.",
    );
    std::fs::create_dir_all(t.ws().join("skills/not-a-skill")).unwrap();
    let c = t.catalog(10);
    let section = c.prompt_section().unwrap();
    let lines: Vec<&str> = section.lines().collect();
    assert_eq!(lines[0], "## Skills");
    assert_eq!(lines[2], "- weather: Looks up the forecast.");
    assert!(lines[3].starts_with("- notes: word word"), "{section}");
    assert!(lines[3].ends_with("word…"), "{section}");
    assert!(lines[3].len() <= "- notes: ".len() + 160 + "…".len());
    assert_eq!(lines.len(), 4, "{section}");
    assert!(
        !section.contains("Use web_fetch"),
        "bodies stay out of the prompt"
    );
    assert!(
        c.current().problems.is_empty(),
        "{:?}",
        c.current().problems
    );
}

#[test]
fn no_skills_means_no_prompt_section() {
    let t = Tmp::new();
    assert_eq!(t.catalog(10).prompt_section(), None);
    let missing = Catalog::new(SkillsOptions {
        global: Some(t.0.join("nowhere")),
        workspace: None,
        max_listed: 10,
    });
    assert_eq!(missing.prompt_section(), None);
    assert!(missing.current().problems.is_empty());
}

#[test]
fn the_listing_is_capped_and_says_how_many_more_there_are() {
    let t = Tmp::new();
    for i in 0..5 {
        skill(
            &t.global(),
            &format!("s{i}"),
            &format!("name: s{i}\ndescription: d{i}"),
            "",
        );
    }
    let section = t.catalog(2).prompt_section().unwrap();
    assert_eq!(
        section.lines().skip(2).collect::<Vec<_>>(),
        [
            "- s0: d0",
            "- s1: d1",
            "(3 more not listed: call `skill` with name \"*\" for all names.)"
        ]
    );
}

#[test]
fn a_global_skill_wins_over_a_workspace_skill_of_the_same_name() {
    let t = Tmp::new();
    skill(
        &t.global(),
        "deploy",
        "name: deploy\ndescription: owner's",
        "owner body",
    );
    skill(
        &t.ws().join("skills"),
        "deploy",
        "name: deploy\ndescription: planted",
        "planted body",
    );
    let c = t.catalog(10);
    let scan = c.current();
    assert_eq!(scan.skills.len(), 1);
    assert_eq!(scan.skills[0].description, "owner's");
    assert!(
        scan.problems[0].message.contains("global skill"),
        "{:?}",
        scan.problems
    );
    assert_eq!(c.load("deploy").unwrap().1, "owner body");
}

#[test]
fn bad_frontmatter_bad_names_and_symlinks_are_reported_and_skipped() {
    let t = Tmp::new();
    let skills = t.ws().join("skills");
    skill(&skills, "broken", "name: broken", "");
    skill(&skills, "Upper", "name: Upper\ndescription: x", "");
    skill(&skills, "other-dir", "name: elsewhere\ndescription: x", "");
    let secret = t.0.join("secret.txt");
    std::fs::write(
        &secret,
        "---\nname: leak\ndescription: top secret\n---\nsecret body",
    )
    .unwrap();
    std::fs::create_dir_all(skills.join("leak")).unwrap();
    symlink(&secret, skills.join("leak/SKILL.md")).unwrap();
    skill(&t.0, "outside", "name: outside\ndescription: x", "");
    symlink(t.0.join("outside"), skills.join("outside")).unwrap();
    skill(&skills, "good", "name: good\ndescription: fine", "");
    let scan = t.catalog(10).current();
    let names: Vec<&str> = scan.skills.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["good"]);
    let mut problems: Vec<String> = scan
        .problems
        .iter()
        .map(|p| {
            let rel = p.path.strip_prefix(&skills).unwrap().display().to_string();
            format!("{rel}: {}", p.message)
        })
        .collect();
    problems.sort();
    assert_eq!(
        problems,
        [
            "Upper/SKILL.md: name \"Upper\" must be 1-64 lowercase letters, digits and single hyphens",
            "broken/SKILL.md: `description` is missing",
            "leak/SKILL.md: is a symlink; skills are read without following symlinks",
            "other-dir/SKILL.md: name \"elsewhere\" differs from its directory \"other-dir\"",
            "outside/SKILL.md: is a symlink; skills are read without following symlinks",
        ]
    );
}

#[test]
fn a_symlinked_workspace_skills_dir_is_not_followed() {
    let t = Tmp::new();
    std::fs::remove_dir_all(t.ws().join("skills")).unwrap();
    skill(&t.0.join("elsewhere"), "x", "name: x\ndescription: y", "");
    symlink(t.0.join("elsewhere"), t.ws().join("skills")).unwrap();
    let scan = t.catalog(10).current();
    assert!(scan.skills.is_empty());
    assert!(
        scan.problems[0].message.contains("symlink"),
        "{:?}",
        scan.problems
    );
}

#[test]
fn an_added_or_edited_skill_is_picked_up_and_moves_the_generation() {
    let t = Tmp::new();
    let c = t.catalog(10);
    let g0 = c.generation();
    assert!(c.cached().skills.is_empty());
    skill(&t.global(), "new", "name: new\ndescription: first", "");
    assert_eq!(c.generation(), g0, "nothing read yet");
    assert_eq!(c.current().skills[0].description, "first");
    let g1 = c.generation();
    assert_ne!(g1, g0);
    skill(
        &t.global(),
        "new",
        "name: new\ndescription: second version",
        "",
    );
    assert_eq!(c.current().skills[0].description, "second version");
    assert_ne!(c.generation(), g1);
    let g2 = c.generation();
    c.current();
    assert_eq!(c.generation(), g2, "unchanged files do not move it");
}

#[test]
fn the_skill_tool_returns_the_body_and_an_unknown_name_lists_what_exists() {
    let t = Tmp::new();
    skill(
        &t.ws().join("skills"),
        "greet",
        "name: greet\ndescription: Greets people",
        "\nSay hello.\n",
    );
    let c = t.catalog(10);
    let tool = c.tool();
    assert_eq!(tool.spec().name, "skill");
    let out = tool.call(&ctx(), &json!({"name": "greet"}));
    assert!(!out.is_error);
    assert_eq!(
        out.content,
        "Skill greet (its files are in skills/greet/ in the workspace):\n\nSay hello."
    );
    let out = tool.call(&ctx(), &json!({"name": "nope"}));
    assert!(out.is_error);
    assert_eq!(
        out.content,
        "no skill named \"nope\". Skills:\n- greet: Greets people"
    );
    assert_eq!(
        tool.call(&ctx(), &json!({"name": "*"})).content,
        "Skills:\n- greet: Greets people"
    );
    assert!(tool.call(&ctx(), &json!({})).is_error);
}
