//! Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: commands on its file descriptor 3, answers on 4, each message
//! JSON ended by a NUL byte). A shell gives the browser the two pipes, so no Node and no
//! WebSocket client are needed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use serde_json::{Value, json};

/// Where Debian installs the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long a page may take to reach a condition.
const WAIT: Duration = Duration::from_secs(30);

/// A running headless browser with one page, killed on drop.
pub struct Browser {
    child: Child,
    commands: ChildStdin,
    answers: BufReader<ChildStdout>,
    next_id: u64,
    session: String,
    profile: PathBuf,
}

impl Browser {
    /// Starts the browser and opens `url` in a page of `width` x `height` pixels. Panics
    /// saying what to install when Chromium is missing.
    pub fn open(url: &str, width: u32, height: u32) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        );
        let profile = std::env::temp_dir().join(format!(
            "pgexporter-chromium-{}-{}",
            std::process::id(),
            crate::exporter::free_port()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let script = format!(
            "exec {CHROMIUM} --headless --no-sandbox --disable-gpu --no-first-run \
             --disable-background-networking --disable-component-update --disable-sync \
             --user-data-dir='{}' --window-size={width},{height} --remote-debugging-pipe \
             about:blank 3<&0 4>&1 0</dev/null 1>&2",
            profile.display()
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh starts chromium");
        let commands = child.stdin.take().unwrap();
        let answers = BufReader::new(child.stdout.take().unwrap());
        let mut browser = Browser {
            child,
            commands,
            answers,
            next_id: 0,
            session: String::new(),
            profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": url}));
        let target = target["targetId"].as_str().expect("a target id").to_owned();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        browser
    }

    /// Sends `method` with `params` (to the page once attached) and returns its result;
    /// panics with the error the browser answers.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = Value::from(self.session.as_str());
        }
        let mut bytes = message.to_string().into_bytes();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .expect("chromium reads commands");
        loop {
            let mut frame = Vec::new();
            let read = self.answers.read_until(0, &mut frame).unwrap();
            assert!(read > 0, "chromium closed its pipe during {method}");
            frame.pop();
            let answer: Value = serde_json::from_slice(&frame).expect("JSON from chromium");
            if answer["id"] == json!(id) {
                if let Some(error) = answer.get("error") {
                    panic!("{method} failed: {error}");
                }
                return answer["result"].clone();
            }
        }
    }

    /// The value of the JavaScript `expression` in the page (promises awaited).
    pub fn evaluate(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is `true`; panics naming `what` after a bound.
    pub fn wait_for(&mut self, what: &str, expression: &str) {
        let started = Instant::now();
        while self.evaluate(expression) != Value::Bool(true) {
            assert!(
                started.elapsed() < WAIT,
                "never happened in the page: {what}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Writes a PNG screenshot of the page to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let data = shot["data"].as_str().expect("base64 image data");
        let png = BASE64_STANDARD.decode(data).expect("base64 image data");
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
