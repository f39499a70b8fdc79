use super::*;

fn t(s: &str) -> Tok {
    Tok::Text(s.to_owned())
}

fn open(name: &'static str) -> Tok {
    Tok::Open(Tag::plain(name))
}

#[test]
fn bold_italic_code_and_strike_become_tags() {
    assert_eq!(
        parse("a **b** *i* _j_ `c` ~~s~~"),
        vec![
            t("a "),
            open("b"),
            t("b"),
            Tok::Close,
            t(" "),
            open("i"),
            t("i"),
            Tok::Close,
            t(" "),
            open("i"),
            t("j"),
            Tok::Close,
            t(" "),
            open("code"),
            t("c"),
            Tok::Close,
            t(" "),
            open("s"),
            t("s"),
            Tok::Close,
        ]
    );
}

#[test]
fn snake_case_and_lone_stars_stay_text() {
    assert_eq!(
        parse("call my_func_name now"),
        vec![t("call my_func_name now")]
    );
    assert_eq!(parse("2 * 3 * 4 = 24"), vec![t("2 * 3 * 4 = 24")]);
    assert_eq!(parse("**unclosed bold"), vec![t("**unclosed bold")]);
    assert_eq!(parse(r"\*not italic\*"), vec![t("*not italic*")]);
}

#[test]
fn code_inside_bold_is_plain_text_because_telegram_forbids_the_nesting() {
    assert_eq!(
        parse("**run `make`**"),
        vec![open("b"), t("run make"), Tok::Close]
    );
}

#[test]
fn fenced_code_keeps_its_language_and_content_verbatim() {
    assert_eq!(
        parse("before\n```rust\nfn main() { *x* }\n```\nafter"),
        vec![
            t("before\n"),
            open("pre"),
            Tok::Open(Tag {
                name: "code",
                attrs: String::from(" class=\"language-rust\""),
            }),
            t("fn main() { *x* }"),
            Tok::Close,
            Tok::Close,
            t("\nafter"),
        ]
    );
}

#[test]
fn unterminated_fence_runs_to_the_end() {
    let toks = parse("```\nline 1\n\nline 3");
    assert_eq!(toks[0], open("pre"));
    assert_eq!(toks[2], t("line 1\n\nline 3"));
}

#[test]
fn hostile_language_names_are_sanitised() {
    let toks = parse("```\"><script>\nx\n```");
    assert_eq!(
        toks[1],
        Tok::Open(Tag {
            name: "code",
            attrs: String::from(" class=\"language-script\""),
        })
    );
}

#[test]
fn headings_quotes_and_bullets() {
    assert_eq!(
        parse("# Title\n\n> quoted **x**\n> more\n\n- one\n  * two"),
        vec![
            open("b"),
            t("Title"),
            Tok::Close,
            t("\n\n"),
            open("blockquote"),
            t("quoted "),
            open("b"),
            t("x"),
            Tok::Close,
            t("\nmore"),
            Tok::Close,
            t("\n\n• one\n  • two"),
        ]
    );
}

#[test]
fn links_only_for_safe_schemes_with_escaped_quotes() {
    assert_eq!(
        parse("[docs](https://x.org/?q=\"a\"&b=1)"),
        vec![
            Tok::Open(Tag {
                name: "a",
                attrs: String::from(" href=\"https://x.org/?q=&quot;a&quot;&amp;b=1\""),
            }),
            t("docs"),
            Tok::Close,
        ]
    );
    assert_eq!(
        parse("[click](javascript:alert(1))"),
        vec![t("[click](javascript:alert(1))")]
    );
    assert_eq!(parse("[x](tg://user?id=1)")[1], t("x"));
    assert_eq!(parse("[text] (not a link)"), vec![t("[text] (not a link)")]);
}

#[test]
fn horizontal_rule_is_not_a_bullet() {
    assert_eq!(parse("* * *"), vec![t("* * *")]);
}

#[test]
fn blank_line_runs_collapse_and_edges_are_trimmed() {
    assert_eq!(parse("\n\na\n\n\n\nb\n\n"), vec![t("a\n\nb")]);
}

#[test]
fn many_adjacent_spans_fit_in_a_small_stack() {
    let md = format!("{}x{}", "*_".repeat(3000), "_*".repeat(3000));
    let toks = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || parse(&md))
        .unwrap()
        .join()
        .unwrap();
    let opens = toks.iter().filter(|t| matches!(t, Tok::Open(_))).count();
    let closes = toks.iter().filter(|t| matches!(t, Tok::Close)).count();
    assert_eq!(opens, closes);
    assert!(opens > 0);
}

#[test]
fn pathological_lines_render_quickly_enough_to_finish() {
    // Quadratic scans on these would still finish; this pins that they do
    // and that nothing is lost.
    let md = "[".repeat(5000) + &"*a ".repeat(3000);
    let toks = parse(&md);
    let text: String = toks
        .iter()
        .filter_map(|t| match t {
            Tok::Text(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text.matches('[').count(), 5000);
}
