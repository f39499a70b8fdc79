#!/usr/bin/env python3
"""A scripted MCP stdio server for picoclaw-mcp's tests.

argv[1] is a comma-separated list of behaviours (see the tests); every
message received is appended as one JSON line to $FAKE_LOG; $FAKE_STATE
counts starts so a behaviour can apply to the first instance only.
Standard library only.
"""
import json
import os
import sys
import time

flags = {}
for part in (sys.argv[1] if len(sys.argv) > 1 else "").split(","):
    if part:
        k, _, v = part.partition("=")
        flags[k] = v

instance = 1
state = os.environ.get("FAKE_STATE")
if state:
    try:
        with open(state) as f:
            instance = int(f.read() or "0") + 1
    except FileNotFoundError:
        pass
    with open(state, "w") as f:
        f.write(str(instance))

out = sys.stdout


def send(msg):
    if "garbage" in flags:
        out.write("this is not json\n{\"broken\": \n[1, 2]\n{\"jsonrpc\": \"1.0\"}\n")
    if "oversized" in flags:
        out.write("x" * int(flags["oversized"]) + "\n")
    out.write(json.dumps(msg) + "\n")
    out.flush()


def log(msg):
    path = os.environ.get("FAKE_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(msg) + "\n")


TOOLS = [
    {"name": "echo", "description": "Echoes text.", "inputSchema": {
        "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
    {"name": "env", "description": "Returns the environment.", "inputSchema": {"type": "object"}},
    {"name": "mixed", "description": "Mixed content.", "inputSchema": {"type": "object"}},
    {"name": "big", "description": "A large result.", "inputSchema": {"type": "object"}},
    {"name": "ask_client", "description": "Sends requests to the client."},
    {"name": "add_tool", "description": "Adds a tool and says so."},
    {"name": "slow", "description": "Never answers."},
    {"name": "freeze", "description": "Stops answering anything."},
    {"name": "crash", "description": "Exits mid-call."},
    {"name": "deafen", "description": "Stops reading stdin."},
]

frozen = False
asking = None  # (call id, {request id: reply})


def result(id, res):
    send({"jsonrpc": "2.0", "id": id, "result": res})


def text(id, t, is_error=False):
    res = {"content": [{"type": "text", "text": t}]}
    if is_error:
        res["isError"] = True
    result(id, res)


def call(id, name, args):
    global frozen, asking
    if name == "echo":
        text(id, "echo: " + str(args.get("text")))
    elif name == "env":
        text(id, json.dumps(dict(os.environ), sort_keys=True))
    elif name == "mixed":
        result(id, {"content": [
            {"type": "text", "text": "two things"},
            {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
            {"type": "resource_link", "uri": "file:///tmp/x.txt", "name": "x.txt"},
        ], "isError": bool(args.get("fail"))})
    elif name == "big":
        text(id, "y" * int(args.get("bytes", 100000)))
    elif name == "ask_client":
        asking = (id, {})
        send({"jsonrpc": "2.0", "method": "notifications/whatever", "params": {}})
        send({"jsonrpc": "2.0", "id": "r1", "method": "roots/list"})
        send({"jsonrpc": "2.0", "id": 2, "method": "sampling/createMessage",
              "params": {"messages": [], "maxTokens": 5}})
        send({"jsonrpc": "2.0", "id": "p", "method": "ping"})
        send({"jsonrpc": "2.0", "id": 3, "method": "made/up"})
    elif name == "add_tool":
        if not any(t["name"] == "extra" for t in TOOLS):
            TOOLS.append({"name": "extra", "description": "Added later.",
                          "inputSchema": {"type": "object"}})
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        text(id, "added")
    elif name == "extra":
        text(id, "extra here")
    elif name == "slow":
        pass
    elif name == "freeze":
        frozen = True
    elif name == "deafen":
        time.sleep(3600)  # stops reading stdin: the pipe fills up
    elif name == "crash" or ("crash_first_call" in flags and instance == 1):
        sys.exit(3)
    else:
        send({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "Unknown tool: " + name}})


def handle(msg):
    global asking
    method = msg.get("method")
    id = msg.get("id")
    if method is None:
        if asking and id in ("r1", 2, "p", 3):
            asking[1][str(id)] = msg.get("error", {}).get("code", msg.get("result"))
            if len(asking[1]) == 4:
                call_id, got = asking
                asking = None
                text(call_id, json.dumps(got, sort_keys=True))
        return
    if id is None:
        return  # notifications: logged, nothing to do
    if method == "initialize":
        version = flags.get("version") or msg["params"]["protocolVersion"]
        caps = {} if "no_tools_cap" in flags else {"tools": {"listChanged": True}}
        result(id, {"protocolVersion": version, "capabilities": caps,
                    "serverInfo": {"name": "fake", "version": str(instance)}})
        if "flood" in flags:
            while True:
                out.write("garbage garbage\n")
                out.flush()
                time.sleep(0.01)
    elif method == "tools/list":
        if "paged" in flags:
            i = int(msg.get("params", {}).get("cursor") or 0)
            page = {"tools": TOOLS[i:i + 2]}
            if i + 2 < len(TOOLS):
                page["nextCursor"] = str(i + 2)
            result(id, page)
        else:
            result(id, {"tools": TOOLS})
    elif method == "tools/call":
        if "crash_first_call" in flags and instance == 1:
            sys.exit(3)
        p = msg.get("params", {})
        call(id, p.get("name"), p.get("arguments") or {})
    elif method == "ping":
        result(id, {})
    else:
        send({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}})


for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    log(msg)
    if not frozen:
        handle(msg)
