//! Running the real `community-shares` binary: for exit codes, configuration, the CLI, and
//! reading what the server logs.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BINARY: &str = env!("CARGO_BIN_EXE_community-shares");

/// A command for the binary in `dir` with a clean configuration environment: no inherited
/// `CS_*` variables, and a config folder that does not exist (built-in defaults only).
pub fn command(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("CS_") {
            command.env_remove(key);
        }
    }
    command.env("CS_CONFIG_DIR", dir.join("no-config"));
    command
}

/// `serve` over `database` as the tests run it: a free port, the tests' signing key (tokens of
/// an in-process app over the same database work on it) and log key, weak argon2 parameters (fast), emails
/// as files in the database's folder. Add or override settings with `.env`, then
/// [`RunningServer::start`].
pub fn serve_command(database: &super::TestDatabase) -> Command {
    let mut command = self::command(database.dir.path());
    command
        .env("CS__SERVER__BIND", "127.0.0.1:0")
        .env("CS__DATABASE__URL", &database.url)
        .env("CS__AUTH__JWT_SECRET", super::JWT_SECRET)
        .env("CS__TRANSPARENCY__SIGNING_KEY", super::LOG_KEY)
        .env("CS__AUTH__ARGON2_MEMORY_KIB", "256")
        .env("CS__AUTH__ARGON2_ITERATIONS", "1")
        .env("CS__EMAIL__FILE_DIR", database.dir.path().join("outbox"));
    command
}

/// Runs the binary to completion with `stdin` as its standard input.
pub fn run(mut command: Command, stdin: &str) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("binary starts");
    {
        use std::io::Write;
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("stdin written");
    }
    child.wait_with_output().expect("binary finishes")
}

/// A running `serve`, whose standard output (the log) is collected.
pub struct RunningServer {
    pub child: Child,
    pub base_url: String,
    pub log: Arc<Mutex<String>>,
}

impl RunningServer {
    /// Starts `serve` (bind it to `127.0.0.1:0`) and waits for its `listening` line.
    pub fn start(mut command: Command) -> RunningServer {
        command.arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    if let Some(address) = line.split("address=").nth(1) {
                        let _ = address_tx.send(address.split_whitespace().next().unwrap_or("").to_owned());
                    }
                }
                let mut log = sink.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let address = address_rx.recv_timeout(super::patience::PATIENCE).unwrap_or_else(|_| {
            let mut err = String::new();
            let _ = stderr.read_to_string(&mut err);
            panic!("server did not report its address; stderr: {err}");
        });
        RunningServer {
            child,
            base_url: format!("http://{address}"),
            log,
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if started.elapsed() > super::patience::PATIENCE {
                let _ = self.child.kill();
                panic!("server did not stop within {:?} of SIGTERM", super::patience::PATIENCE);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `url` and its JSON body, from blocking code (a runtime of its own).
pub fn get_json(url: &str) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async { reqwest::get(url).await.expect("GET").json().await.expect("JSON") })
}
