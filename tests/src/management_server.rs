//! A stand-in for the daemon's management listeners, for end-to-end tests of `pgexporter-cli`.
//!
//! Each connection is served as the daemon serves it: remote only, the handshake
//! ([`ServerHandshake`] against [`AdminVerifiers`], TLS when a server configuration is given);
//! then `frame::decode` → `frame::open` → `Document::parse` → `dispatch` on a [`TestDaemon`]
//! → `frame::encode` with the compression and encryption the request asked for. One
//! connection at a time on one thread; dropping the server stops it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pgexporter_core::config::{Config, load_ini};
use pgexporter_core::management::handshake::{AdminVerifiers, ServerEvent, ServerHandshake};
use pgexporter_core::management::{
    Compression, ConfigPaths, Context, Document, Encryption, Frame, Sealing, ServerStatus,
    Transport as Origin, bad_payload, dispatch, frame,
};
use pgexporter_core::vault::MasterKey;
use pgexporter_net::transport::Transport;
use rustls::{ServerConfig, ServerConnection};

/// How long the server waits for a client's bytes.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The `Timestamp` of every answer.
const TIMESTAMP: &str = "20261125000000";

/// The daemon state the dispatcher reads and changes.
#[derive(Debug)]
pub struct TestDaemon {
    /// The running configuration (`conf get`, changed by `conf set` and `conf reload`).
    pub config: Config,
    /// The configuration text `conf reload` reads again.
    pub file: String,
    /// How many `shutdown` commands arrived.
    pub shutdowns: usize,
    /// How many `clear prometheus` commands arrived.
    pub clears: usize,
}

impl TestDaemon {
    /// A daemon running the INI configuration `text` (panics when it is invalid).
    pub fn new(text: &str) -> TestDaemon {
        TestDaemon {
            config: parse(text),
            file: text.to_owned(),
            shutdowns: 0,
            clears: 0,
        }
    }
}

fn parse(text: &str) -> Config {
    load_ini(text, "pgexporter.conf", &|_| None)
        .expect("a valid test configuration")
        .config
}

impl Context for TestDaemon {
    fn config(&self) -> &Config {
        &self.config
    }
    fn servers(&self) -> Vec<ServerStatus> {
        self.config
            .servers
            .iter()
            .map(|server| ServerStatus {
                name: server.name.clone(),
                active: false,
                fips: false,
            })
            .collect()
    }
    fn fips(&self) -> bool {
        false
    }
    fn paths(&self) -> ConfigPaths {
        ConfigPaths {
            main: Some("/etc/pgexporter/pgexporter.conf".into()),
            users: None,
            admins: None,
        }
    }
    fn env(&self, _name: &str) -> Option<String> {
        None
    }
    fn load_config(&mut self) -> Result<Config, String> {
        load_ini(&self.file, "pgexporter.conf", &|_| None)
            .map(|loaded| loaded.config)
            .map_err(|error| error.to_string())
    }
    fn apply_config(&mut self, config: Config) -> Result<(), String> {
        self.config = config;
        Ok(())
    }
    fn shutdown(&mut self) {
        self.shutdowns += 1;
    }
    fn clear_prometheus(&mut self) {
        self.clears += 1;
    }
}

/// What a remote listener checks before the frame.
struct RemoteSetup {
    admins: AdminVerifiers,
    tls: Option<Arc<ServerConfig>>,
}

/// What the serving thread shares with the test.
struct Shared {
    daemon: Mutex<TestDaemon>,
    master_key: Option<MasterKey>,
    stop: AtomicBool,
    /// Varies the nonces, salts and IVs from one connection to the next.
    counter: AtomicU8,
}

/// Where the server listens.
enum Endpoint {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// A running stand-in; see the module docs.
pub struct ManagementServer {
    endpoint: Endpoint,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl ManagementServer {
    /// Serves the local socket `<socket_dir>/.s.pgexporter`. `master_key` opens and seals
    /// encrypted frames.
    pub fn local(socket_dir: &Path, daemon: TestDaemon, master_key: Option<MasterKey>) -> Self {
        let path = socket_dir.join(".s.pgexporter");
        let listener = UnixListener::bind(&path).expect("bind the management socket");
        let shared = Shared::new(daemon, master_key);
        let serving = shared.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if serving.stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream {
                    // A connection that fails ends; the next one is served.
                    let _ = serve::<UnixStream>(stream, None, &serving);
                }
            }
        });
        ManagementServer {
            endpoint: Endpoint::Unix(path),
            shared,
            thread: Some(thread),
        }
    }

    /// Serves a remote management port on 127.0.0.1: the handshake against `admins`, with
    /// TLS when `tls` is given.
    pub fn remote(
        admins: AdminVerifiers,
        tls: Option<Arc<ServerConfig>>,
        daemon: TestDaemon,
        master_key: Option<MasterKey>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a management port");
        let address = listener.local_addr().expect("the bound address");
        let shared = Shared::new(daemon, master_key);
        let serving = shared.clone();
        let setup = RemoteSetup { admins, tls };
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if serving.stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream {
                    let _ = serve::<TcpStream>(stream, Some(&setup), &serving);
                }
            }
        });
        ManagementServer {
            endpoint: Endpoint::Tcp(address),
            shared,
            thread: Some(thread),
        }
    }

    /// The TCP port of a remote server.
    pub fn port(&self) -> u16 {
        match &self.endpoint {
            Endpoint::Tcp(address) => address.port(),
            Endpoint::Unix(path) => panic!("{} is a local socket", path.display()),
        }
    }

    /// The daemon state, for assertions.
    pub fn daemon(&self) -> MutexGuard<'_, TestDaemon> {
        self.shared.daemon.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ManagementServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocked accept.
        let _ = match &self.endpoint {
            Endpoint::Unix(path) => UnixStream::connect(path).map(drop),
            Endpoint::Tcp(address) => TcpStream::connect(address).map(drop),
        };
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn new(daemon: TestDaemon, master_key: Option<MasterKey>) -> Arc<Shared> {
        Arc::new(Shared {
            daemon: Mutex::new(daemon),
            master_key,
            stop: AtomicBool::new(false),
            counter: AtomicU8::new(0),
        })
    }

    fn fresh<const N: usize>(&self) -> [u8; N] {
        [self.counter.fetch_add(1, Ordering::Relaxed); N]
    }
}

/// A stream whose reads can time out.
trait Stream: Read + Write {
    fn set_timeout(&self, timeout: Duration) -> io::Result<()>;
}

impl Stream for UnixStream {
    fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))
    }
}

impl Stream for TcpStream {
    fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))
    }
}

/// One connection: the handshake when remote, then one frame each way.
fn serve<S: Stream>(
    mut stream: S,
    remote: Option<&RemoteSetup>,
    shared: &Shared,
) -> io::Result<()> {
    stream.set_timeout(TIMEOUT)?;
    let mut transport: Transport<ServerConnection> = Transport::default();
    let mut plaintext = BytesMut::new();
    let origin = match remote {
        None => Origin::Local,
        Some(setup) => {
            match authenticate(&mut stream, &mut transport, setup, shared)? {
                Some(remaining) => plaintext = remaining,
                None => return Ok(()),
            }
            Origin::Remote
        }
    };
    let request = loop {
        if let Some(frame) = frame::decode(&mut plaintext).map_err(invalid)? {
            break frame;
        }
        if !receive(&mut stream, &mut transport, &mut plaintext)? {
            return Ok(());
        }
    };
    let mut out = BytesMut::new();
    answer(&request, origin, shared, &mut out);
    transport.send(&out).map_err(invalid)?;
    if let Transport::Tls { pump, .. } = &mut transport {
        pump.close();
    }
    flush(&mut stream, &mut transport)
}

/// Runs the server handshake; the bytes after it when the admin is authenticated, `None`
/// when refused (the ErrorResponse has been sent).
fn authenticate<S: Stream>(
    stream: &mut S,
    transport: &mut Transport<ServerConnection>,
    setup: &RemoteSetup,
    shared: &Shared,
) -> io::Result<Option<BytesMut>> {
    let mut handshake = ServerHandshake::new(
        &setup.admins,
        setup.tls.is_some(),
        Instant::now(),
        TIMEOUT,
        shared.fresh(),
    );
    loop {
        let mut out = BytesMut::new();
        if handshake.poll_transmit(&mut out) {
            transport.send(&out).map_err(invalid)?;
            flush(stream, transport)?;
        }
        while let Some(event) = handshake.poll_event() {
            match event {
                ServerEvent::StartTls => {
                    let config = setup
                        .tls
                        .clone()
                        .ok_or_else(|| invalid("TLS not offered"))?;
                    *transport = Transport::server(config).map_err(invalid)?;
                    handshake.tls_established(Instant::now());
                }
                ServerEvent::Authenticated { .. } => return Ok(Some(handshake.take_remaining())),
                ServerEvent::Refused(_) => return Ok(None),
            }
        }
        let mut plaintext = BytesMut::new();
        if !receive(stream, transport, &mut plaintext)? {
            handshake.handle_eof(Instant::now());
        } else if !plaintext.is_empty()
            && handshake.handle_input(Instant::now(), &plaintext).is_err()
        {
            // The ErrorResponse the handshake queued goes out before closing.
            let mut out = BytesMut::new();
            if handshake.poll_transmit(&mut out) {
                transport.send(&out).map_err(invalid)?;
            }
            return flush(stream, transport).map(|()| None);
        }
    }
}

/// The answer frame to `request`, framed as its header asks.
fn answer(request: &Frame, origin: Origin, shared: &Shared, out: &mut BytesMut) {
    let key = shared.master_key.as_ref();
    let parsed = frame::open(request, key)
        .ok()
        .and_then(|json| Document::parse(&json).ok());
    let document = match &parsed {
        Some(request) => {
            let mut daemon = shared.daemon.lock().unwrap_or_else(|e| e.into_inner());
            dispatch(&mut *daemon, request, origin, TIMESTAMP, Duration::ZERO)
        }
        None => bad_payload(TIMESTAMP),
    };
    let (compression, encryption) = match &parsed {
        Some(request) => (request.header.compression, request.header.encryption),
        None => (Compression::None, Encryption::None),
    };
    let sealing = key.map(|master_key| Sealing {
        master_key,
        salt: shared.fresh(),
        iv: shared.fresh(),
    });
    let encoded = frame::encode(out, &document.to_json(), compression, encryption, sealing);
    if encoded.is_err() {
        // A header asking for encryption this side has no key for: answer error 1 in clear.
        let json = bad_payload(TIMESTAMP).to_json();
        let _ = frame::encode(out, &json, Compression::None, Encryption::None, None);
    }
}

/// One read, passed through the transport; `false` at the end of the stream.
fn receive<S: Stream>(
    stream: &mut S,
    transport: &mut Transport<ServerConnection>,
    plaintext: &mut BytesMut,
) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk)?;
    if n == 0 {
        return Ok(false);
    }
    let received = transport.receive(&chunk[..n], plaintext);
    // TLS handshake records (and alerts after an error) are answered at once.
    flush(stream, transport)?;
    received.map_err(invalid)?;
    Ok(true)
}

/// Writes what the transport has to send.
fn flush<S: Stream>(stream: &mut S, transport: &mut Transport<ServerConnection>) -> io::Result<()> {
    let mut out = BytesMut::new();
    if transport.poll_transmit(&mut out) {
        stream.write_all(&out)?;
    }
    Ok(())
}

fn invalid(error: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}
