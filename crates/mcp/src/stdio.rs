//! The stdio transport: one JSON-RPC message per line on the child's stdin
//! and stdout; stderr goes to the debug log.

use std::io::{BufReader, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use picoclaw_core::debug;

use crate::error::McpError;
use crate::frame::{read_line, Line};
use crate::launcher::{LaunchSpec, Launcher, Process};
use crate::rpc::{snippet, Outgoing, Peer, Transport};

/// How long a server gets to exit by itself once its stdin is closed.
const EXIT_GRACE: Duration = Duration::from_millis(500);

pub(crate) struct Stdio {
    writer: Arc<Mutex<Option<Box<dyn Write + Send>>>>,
    process: Mutex<Box<dyn Process>>,
    pid: u32,
}

fn write_frame(writer: &Mutex<Option<Box<dyn Write + Send>>>, bytes: &[u8]) -> std::io::Result<()> {
    let mut guard = writer.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(w) = guard.as_mut() else {
        return Err(std::io::Error::other("stdin closed"));
    };
    // One write per frame so concurrent senders never interleave lines.
    let mut frame = Vec::with_capacity(bytes.len() + 1);
    frame.extend_from_slice(bytes);
    frame.push(b'\n');
    w.write_all(&frame)?;
    w.flush()
}

impl Stdio {
    pub(crate) fn start(
        launcher: &dyn Launcher,
        spec: &LaunchSpec,
        peer: Arc<Peer>,
        max_message: usize,
    ) -> Result<Stdio, McpError> {
        let launched = launcher
            .launch(spec)
            .map_err(|e| McpError::Launch(format!("{}: {e}", spec.command)))?;
        let pid = launched.process.id();
        let writer = Arc::new(Mutex::new(Some(launched.stdin)));
        let reply_writer = writer.clone();
        let stdout = launched.stdout;
        let reader_peer = peer.clone();
        spawn(format!("mcp-{}-out", spec.server), move || {
            read_loop(stdout, &reader_peer, &reply_writer, max_message)
        })?;
        if let Some(stderr) = launched.stderr {
            let server = spec.server.clone();
            spawn(format!("mcp-{}-err", spec.server), move || {
                log_stderr(stderr, &server)
            })?;
        }
        debug!("mcp {}: started pid {pid}", spec.server);
        Ok(Stdio {
            writer,
            process: Mutex::new(launched.process),
            pid,
        })
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<(), McpError> {
    thread::Builder::new()
        .name(name)
        .stack_size(128 * 1024)
        .spawn(f)
        .map(drop)
        .map_err(|e| McpError::Launch(format!("thread: {e}")))
}

fn read_loop(
    stdout: Box<dyn Read + Send>,
    peer: &Peer,
    writer: &Mutex<Option<Box<dyn Write + Send>>>,
    max: usize,
) {
    let mut r = BufReader::with_capacity(16 * 1024, stdout);
    let mut line = Vec::new();
    let reason = loop {
        match read_line(&mut r, max, &mut line) {
            Ok(Line::Data) => {
                for reply in peer.deliver_frame(&line) {
                    if let Err(e) = write_frame(writer, &reply) {
                        peer.close(format!("writing to the server failed: {e}"));
                    }
                }
            }
            Ok(Line::TooLong(n)) => peer.oversized(n, max),
            Ok(Line::Eof) => break "the server closed its stdout (exited?)".to_string(),
            Err(e) => break format!("reading the server's stdout failed: {e}"),
        }
        if peer.closed_reason().is_some() {
            return;
        }
    };
    peer.close(reason);
}

fn log_stderr(stderr: Box<dyn Read + Send>, server: &str) {
    let mut r = BufReader::with_capacity(4096, stderr);
    let mut line = Vec::new();
    loop {
        match read_line(&mut r, 4096, &mut line) {
            Ok(Line::Data) => debug!("mcp {server} stderr: {}", snippet(&line, 300)),
            Ok(Line::TooLong(n)) => debug!("mcp {server} stderr: <{n}-byte line>"),
            Ok(Line::Eof) | Err(_) => return,
        }
    }
}

impl Transport for Stdio {
    fn send(&self, msg: Outgoing<'_>) -> Result<(), McpError> {
        write_frame(&self.writer, msg.bytes)
            .map_err(|e| McpError::Closed(format!("writing to the server failed: {e}")))
    }

    fn close(&self) {
        // Closing stdin is the protocol's polite shutdown; kill if ignored.
        drop(
            self.writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let mut process = self.process.lock().unwrap_or_else(PoisonError::into_inner);
        let until = Instant::now() + EXIT_GRACE;
        while Instant::now() < until {
            if process.exited().is_some() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        process.kill();
    }

    fn kind(&self) -> &'static str {
        "stdio"
    }

    fn pid(&self) -> Option<u32> {
        Some(self.pid)
    }
}

impl Drop for Stdio {
    fn drop(&mut self) {
        self.process
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .kill();
    }
}
