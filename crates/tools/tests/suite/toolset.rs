//! The registry: argument parsing, dispatch, result caps, specs.

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};
use picoclaw_tools::{file_tools, FileLimits, ToolSet};
use serde_json::{json, Value};

use super::util::{err, ok, Fixture};

#[test]
fn invalid_json_arguments_come_back_as_an_error_the_model_can_fix() {
    let f = Fixture::new();
    let out = f.tools.call("read_file", &f.ctx(), "{\"path\": ");
    assert!(out.is_error);
    assert!(
        out.content.starts_with("arguments are not valid JSON: "),
        "{out:?}"
    );
    assert_eq!(
        f.tools.call("read_file", &f.ctx(), "[\"a\"]"),
        err("arguments must be a JSON object, got an array")
    );
    assert_eq!(
        f.tools
            .call("write_file", &f.ctx(), r#"{"path": 3, "content": "x"}"#),
        err("argument 'path' must be a string, got a number")
    );
}

#[test]
fn unknown_tools_are_named_with_the_available_ones() {
    let f = Fixture::new();
    assert_eq!(
        f.tools.call("exec", &f.ctx(), "{}"),
        err("unknown tool 'exec'; available: read_file, write_file, edit_file, list_dir")
    );
    assert!(f.tools.get("exec").is_none());
    assert_eq!(
        f.tools.get("list_dir").map(|t| t.spec().name),
        Some("list_dir".into())
    );
}

#[test]
fn empty_arguments_count_as_an_empty_object() {
    let f = Fixture::new();
    f.write("a", "1");
    assert_eq!(
        f.tools.call("list_dir", &f.ctx(), "  "),
        ok("file a (1 B)\n")
    );
}

#[test]
fn long_results_are_truncated_with_a_marker() {
    let f = Fixture::new();
    f.write("big.txt", "x".repeat(100));
    let tools = ToolSet::new(file_tools(&FileLimits::default())).with_result_cap(10);
    assert_eq!(
        tools.call("read_file", &f.ctx(), r#"{"path": "big.txt"}"#),
        ok("xxxxxxxxxx\n[truncated: showing the first 10 of 100 bytes]")
    );
}

#[test]
fn specs_are_small_valid_schemas_in_registration_order() {
    let tools = ToolSet::new(file_tools(&FileLimits::default()));
    let names: Vec<&str> = tools.specs().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["read_file", "write_file", "edit_file", "list_dir"]);
    for spec in tools.specs() {
        assert_eq!(spec.parameters["type"], "object", "{}", spec.name);
        let props = spec.parameters["properties"].as_object().unwrap();
        for required in spec.parameters["required"].as_array().into_iter().flatten() {
            assert!(
                props.contains_key(required.as_str().unwrap()),
                "{}",
                spec.name
            );
        }
    }
    // Specs ride along on every request; leave most of the 8 KB budget
    // for exec and whatever comes later.
    let bytes = serde_json::to_string(tools.specs()).unwrap().len();
    assert!(bytes < 2048, "file tool specs are {bytes} bytes of JSON");
}

struct Fixed(&'static str, &'static str);

impl Tool for Fixed {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.0.into(),
            description: String::new(),
            parameters: json!({"type": "object", "properties": {}}),
        }
    }

    fn call(&self, _ctx: &ToolContext, _args: &Value) -> ToolOutput {
        ToolOutput::ok(self.1)
    }
}

#[test]
fn a_duplicate_tool_name_keeps_the_first_registration() {
    let f = Fixture::new();
    let tools = ToolSet::new(vec![
        Box::new(Fixed("t", "first")),
        Box::new(Fixed("t", "second")),
    ]);
    assert_eq!(tools.specs().len(), 1);
    assert_eq!(tools.call("t", &f.ctx(), "{}"), ok("first"));
}
