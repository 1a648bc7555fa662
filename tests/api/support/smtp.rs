//! A real SMTP server for the tests: `aiosmtpd` (PyPI) in the project-local virtualenv that
//! `scripts/test` makes (`CS_TEST_PYTHON`), storing each message in a Maildir. Messages are read
//! back with Python's own `mailbox` and `email` modules, which decode the MIME parts.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpServer {
    pub port: u16,
    maildir: PathBuf,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Set for a server that holds each message before storing it (see [`SmtpServer::holding`]).
    hold: Option<Duration>,
}

/// aiosmtpd with a Maildir handler that, once a message's DATA is in, stores it (the server
/// has taken it), notes it in `arrivals`, and only then waits `hold` seconds before answering
/// 250: a client killed meanwhile has handed over a message whose outcome it never hears.
const HOLDING: &str = r#"
import asyncio, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
port, maildir, hold, arrivals = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
class Holding(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        with open(arrivals, "a") as f:
            f.write("arrived\n")
        await asyncio.sleep(hold)
        return answer
controller = Controller(Holding(maildir), hostname="127.0.0.1", port=port)
controller.start()
threading.Event().wait()
"#;

/// One message as received.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Received {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
}

fn python() -> String {
    std::env::var("CS_TEST_PYTHON")
        .expect("CS_TEST_PYTHON is not set: run the suite with ./scripts/test, which installs aiosmtpd in a virtualenv")
}

impl SmtpServer {
    pub fn start() -> Self {
        let mut server = Self::start_stopped();
        server.resume();
        server
    }

    /// A server that stores each message, then holds its answer for `hold`.
    pub fn holding(hold: Duration) -> Self {
        let mut server = Self::start_stopped();
        server.hold = Some(hold);
        server.resume();
        server
    }

    fn start_stopped() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        SmtpServer {
            port,
            maildir: dir.path().join("maildir"),
            dir,
            child: None,
            hold: None,
        }
    }

    /// How many messages a holding server has stored (answered or not).
    pub fn arrivals(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("arrivals"))
            .map(|text| text.lines().count())
            .unwrap_or(0)
    }

    /// Starts (again) on the same port and Maildir.
    pub fn resume(&mut self) {
        let mut command = Command::new(python());
        match self.hold {
            Some(hold) => command
                .args(["-c", HOLDING, &self.port.to_string()])
                .arg(&self.maildir)
                .arg(hold.as_secs_f64().to_string())
                .arg(self.dir.path().join("arrivals")),
            None => command
                .args([
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    &format!("127.0.0.1:{}", self.port),
                    "-c",
                    "aiosmtpd.handlers.Mailbox",
                ])
                .arg(&self.maildir),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        self.child = Some(child);
        let deadline = crate::support::patience::deadline();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (as if it were down).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn messages(&self) -> Vec<Received> {
        if !self.maildir.exists() {
            return Vec::new();
        }
        let script = r#"
import json, mailbox, sys
out = []
for message in mailbox.Maildir(sys.argv[1], create=False):
    text = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    subject = str(__import__("email.header", fromlist=["make_header"]).make_header(
        __import__("email.header", fromlist=["decode_header"]).decode_header(message["Subject"])))
    out.append({"to": message["To"], "subject": subject, "message_id": message["Message-ID"], "text": text})
print(json.dumps(out))
"#;
        let output = Command::new(python())
            .args(["-c", script])
            .arg(&self.maildir)
            .output()
            .expect("python reads the Maildir");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("JSON from the reader")
    }

    /// Waits until messages with `n` distinct Message-IDs have arrived (at most `PATIENCE`): delivery
    /// is at least once, so after a crash one email may arrive twice, under one Message-ID.
    pub async fn wait_for_distinct(&self, n: usize) -> Vec<Received> {
        let deadline = crate::support::patience::deadline();
        loop {
            let messages = self.messages();
            let distinct: std::collections::BTreeSet<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
            if distinct.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} distinct messages arrived",
                distinct.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until at least `n` messages have arrived (at most `PATIENCE`).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = crate::support::patience::deadline();
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} messages arrived",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
