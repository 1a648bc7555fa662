//! A PostgreSQL cluster of a test's own (`scripts/postgres.sh` run as a command), for the
//! tests that stop and start the database under a running server.

use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres.sh");

pub struct Cluster {
    pub dir: String,
    pub port: u16,
}

fn script(args: &[&str]) -> String {
    let output = Command::new("bash").arg(SCRIPT).args(args).output().expect("bash runs");
    assert!(
        output.status.success(),
        "postgres.sh {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

impl Cluster {
    /// Starts a fresh cluster on a free port (about 2 s).
    pub fn start() -> Self {
        let started = script(&["start"]);
        let (dir, port) = started.rsplit_once(' ').expect("DIR PORT");
        Cluster {
            dir: dir.to_owned(),
            port: port.parse().expect("a port"),
        }
    }

    /// A new, empty database in the cluster; its URL.
    pub fn database(&self, name: &str) -> String {
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut conn = <diesel::PgConnection as diesel::Connection>::establish(&admin).expect("connect");
        diesel::RunQueryDsl::execute(diesel::sql_query(format!("CREATE DATABASE {name}")), &mut conn).expect("create");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Stops the server (a fast shutdown: sessions are cut, open transactions rolled back).
    pub fn pause(&self) {
        script(&["pause", &self.dir]);
    }

    pub fn resume(&self) {
        script(&["resume", &self.dir, &self.port.to_string()]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(SCRIPT).args(["stop", &self.dir]).output();
    }
}
