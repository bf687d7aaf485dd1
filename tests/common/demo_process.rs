//! The real binary, started as `demo` (the bridge in front of its built-in
//! stand-in) on free ports, for tests that need the process itself: its
//! signals, its memory. Killed when dropped, passed or failed.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub struct Demo {
    pub child: Child,
    /// `http://127.0.0.1:<port>`, the SCIM side.
    pub base: String,
}

impl Demo {
    /// `demo` with `token`, then `args`; `RUST_LOG=warn`, output dropped.
    /// `configure` may change the command further (its environment).
    pub fn start(token: &str, args: &[&str], configure: impl FnOnce(&mut Command)) -> Demo {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_drupal-scim-bridge"));
        command
            .args([
                "demo",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--drupal-listen",
                &format!("127.0.0.1:{}", free_port()),
                "--token",
                token,
            ])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        configure(&mut command);
        Demo {
            child: command.spawn().expect("start the bridge"),
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
