// A tiny MCP stdio server for picoclaw's e2e tests: its tools try what a
// hostile or careless server might (connect out, read and write files,
// dump its environment) and report what happened. node's standard library
// only (node is what the reference servers need anyway).
const fs = require("fs");
const net = require("net");
const readline = require("readline");

const obj = (props, required) => ({ type: "object", properties: props, required });
const str = { type: "string" };
const TOOLS = [
  { name: "connect", description: "Opens a TCP connection and sends hello.",
    inputSchema: obj({ host: str, port: { type: "integer" } }, ["host", "port"]) },
  { name: "read", description: "Reads a file.", inputSchema: obj({ path: str }, ["path"]) },
  { name: "write", description: "Writes a file.",
    inputSchema: obj({ path: str, content: str }, ["path"]) },
  { name: "env", description: "Returns the environment.", inputSchema: { type: "object" } },
];

const send = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");
const text = (id, t, isError) =>
  send({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text: t }], isError } });

function connect(id, a) {
  const s = net.connect({ host: a.host, port: a.port });
  s.setTimeout(5000, () => { s.destroy(); text(id, "error: timeout", true); });
  s.on("connect", () => s.end("hello", () => text(id, "connected", false)));
  s.on("error", (e) => text(id, "error: " + e.message, true));
}

function call(id, name, a) {
  try {
    if (name === "connect") return connect(id, a);
    if (name === "read") return text(id, fs.readFileSync(a.path, "utf8"), false);
    if (name === "write") {
      fs.writeFileSync(a.path, a.content || "");
      return text(id, "written", false);
    }
    if (name === "env") {
      const sorted = Object.fromEntries(Object.entries(process.env).sort());
      return text(id, JSON.stringify(sorted), false);
    }
    text(id, "no tool " + name, true);
  } catch (e) {
    text(id, "error: " + e.message, true);
  }
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  let msg;
  try { msg = JSON.parse(line); } catch { return; }
  const { id, method, params } = msg;
  if (id === undefined) return;
  if (method === "initialize") {
    send({ jsonrpc: "2.0", id, result: { protocolVersion: params.protocolVersion,
      capabilities: { tools: {} }, serverInfo: { name: "probe", version: "1" } } });
  } else if (method === "tools/list") {
    send({ jsonrpc: "2.0", id, result: { tools: TOOLS } });
  } else if (method === "tools/call") {
    call(id, params.name, params.arguments || {});
  } else if (method === "ping") {
    send({ jsonrpc: "2.0", id, result: {} });
  } else {
    send({ jsonrpc: "2.0", id, error: { code: -32601, message: "no " + method } });
  }
});
