//! Headless Chromium for the report tests: finding it (or skipping loudly when it is
//! absent), and driving a page over the Chrome DevTools Protocol (CDP) on a local
//! websocket: evaluate JavaScript, dispatch real mouse events, take screenshots.
//!
//! On a machine without Chromium the browser tests print a banner saying they were
//! skipped and pass, so `cargo test` works on a fresh machine; with
//! `DSIM_REQUIRE_BROWSER=1` (which `.ci/run` sets after installing Chromium) a missing
//! browser fails them instead.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::fs;
use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tungstenite::WebSocket;
use tungstenite::protocol::Message;

/// Where Debian installs Chromium; `DSIM_CHROMIUM` names another binary.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Flags that make Chromium headless, quiet and offline.
pub const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// The browser to test with, or `None` after printing that `test` was skipped. Panics
/// when the browser is missing and `DSIM_REQUIRE_BROWSER=1`.
pub fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let chromium = std::env::var_os("DSIM_CHROMIUM").map_or(PathBuf::from(CHROMIUM), PathBuf::from);
    if chromium.exists() {
        return Some(chromium);
    }
    let chromium = chromium.display();
    let required = std::env::var("DSIM_REQUIRE_BROWSER").is_ok_and(|value| value == "1");
    assert!(
        !required,
        "{chromium} is missing and DSIM_REQUIRE_BROWSER=1: install it (apt-get install chromium) \
         to run the browser test {test}"
    );
    // Straight to the process' standard error: the test harness captures `eprintln!` of
    // passing tests, and a skip must be seen.
    let banner = format!(
        "\n==================================================================\n\
         SKIPPED browser test {test}: {chromium} is not installed.\n\
         Install it (apt-get install chromium) to run it; set DSIM_REQUIRE_BROWSER=1\n\
         to make a missing browser fail the test instead (CI does).\n\
         ==================================================================\n"
    );
    let _ = std::io::stderr().write_all(banner.as_bytes());
    None
}

/// One headless Chromium with one page, driven over CDP. Killed when dropped.
pub struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `chromium` with a fresh profile and a window of `width` x `height` pixels,
    /// and attaches to a new blank page.
    pub fn launch(chromium: &Path, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(chromium)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--remote-debugging-port=0")
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
        // Chromium writes its port and browser path here once it listens.
        let port_file = profile.path().join("DevToolsActivePort");
        let mut endpoint = None;
        for _ in 0..600 {
            if let Ok(text) = fs::read_to_string(&port_file) {
                let lines: Vec<&str> = text.lines().collect();
                if lines.len() >= 2 {
                    endpoint = Some((lines[0].to_string(), lines[1].to_string()));
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let (port, path) = endpoint.expect("chromium did not open its DevTools port within 60 s");
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        // A hung browser fails the test instead of hanging the suite.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let (socket, _) =
            tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream).unwrap();
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let target = browser.call(
            "Target.createTarget",
            json!({ "url": "about:blank", "newWindow": false }),
        );
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
        browser.call("Page.enable", json!({}));
        browser
    }

    /// Sends a CDP command (to the page once attached) and returns its result; panics
    /// on a protocol error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .unwrap_or_else(|e| panic!("sending {method}: {e}"));
        loop {
            let reply = match self.socket.read() {
                Ok(reply) => reply,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    panic!("chromium did not answer {method} within 60 s")
                }
                Err(e) => panic!("reading the answer to {method}: {e}"),
            };
            let Message::Text(text) = reply else {
                continue;
            };
            let value: Value = serde_json::from_str(text.as_str()).unwrap();
            if value["id"] == json!(id) {
                if let Some(error) = value.get("error") {
                    panic!("{method} failed: {error}");
                }
                return value["result"].clone();
            }
        }
    }

    /// Opens `page` and waits until it has loaded.
    pub fn open(&mut self, page: &Path) {
        let url = format!("file://{}", page.display());
        self.call("Page.navigate", json!({ "url": url }));
        for _ in 0..600 {
            if self.eval("document.readyState") == json!("complete") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{url} did not finish loading within 30 s");
    }

    /// Evaluates a JavaScript expression in the page and returns its value; panics if
    /// it throws.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// A real mouse click at page coordinates (x, y).
    pub fn click(&mut self, x: f64, y: f64) {
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// A real mouse drag with the left button from `from` to `to` (page coordinates).
    pub fn drag(&mut self, from: (f64, f64), to: (f64, f64)) {
        let event = |kind: &str, (x, y): (f64, f64), buttons: u32| json!({ "type": kind, "x": x, "y": y, "button": "left", "buttons": buttons, "clickCount": 1 });
        self.call("Input.dispatchMouseEvent", event("mouseMoved", from, 0));
        self.call("Input.dispatchMouseEvent", event("mousePressed", from, 1));
        for step in 1..=4 {
            let share = f64::from(step) / 4.0;
            let at = (
                from.0 + (to.0 - from.0) * share,
                from.1 + (to.1 - from.1) * share,
            );
            self.call("Input.dispatchMouseEvent", event("mouseMoved", at, 1));
        }
        self.call("Input.dispatchMouseEvent", event("mouseReleased", to, 0));
    }

    /// A real mouse wheel turn at (x, y); positive `delta_y` scrolls down.
    pub fn wheel(&mut self, x: f64, y: f64, delta_y: f64) {
        self.call(
            "Input.dispatchMouseEvent",
            json!({ "type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": delta_y }),
        );
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        base64_decode(shot["data"].as_str().unwrap())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Decodes standard base64 (CDP's encoding of binary data).
pub fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = text.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut word = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            word |= value(c) << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((word >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// Decodes a PNG into (width, height, RGBA pixels).
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(bytes);
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => pixels,
        png::ColorType::Rgb => pixels
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    (info.width, info.height, rgba)
}
