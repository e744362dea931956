//! End-to-end tests under hostile clients and careless operators: values outside their bounds
//! through every path that sets them, the daemon out of file descriptors, the log directory
//! removed, clients that connect and never send or never read, and passwords guessed in
//! parallel from one address, which holds no more than its share of remote management. Each
//! is bounded in time and count and stays on loopback.
//!
//! Build the binaries first: `cargo build -j2 --bins`.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use nix::sys::signal::Signal;
use pgexporter_core::machine::Machine;
use pgexporter_core::management::REFUSAL_DELAY;
use pgexporter_core::management::handshake::{ClientEvent, ClientHandshake};
use pgexporter_core::pg::TlsMode;
use pgexporter_core::plan::ListenerKind;
use pgexporter_core::secret::Secret;
use pgexporter_core::serve::source_share;
use pgexporter_tests::exporter::{ADMIN, ManagedDaemon, eventually, failed, succeeded};
use pgexporter_tests::processes::children_of;

/// Values outside the bounds of their key, each with what the refusal names.
const OUT_OF_RANGE: [(&str, &str, &str); 7] = [
    ("metrics_query_timeout", "25d", "out of range"),
    ("log_line_prefix", "%Q%", "not a strftime specifier"),
    ("authentication_timeout", "0", "out of range"),
    ("log_rotation_size", "1", "out of range"),
    ("log_rotation_age", "1s", "out of range"),
    ("metrics_cache_max_age", "2d", "out of range"),
    ("backlog", "70000", "out of range"),
];

/// How long an idle client waits for its answer before the test fails.
const IDLE_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the daemon is kept out of file descriptors.
const STARVED_FOR: Duration = Duration::from_secs(3);

/// The open files limit set on the running daemon: a few more than it holds when idle.
const STARVED_LIMIT: u32 = 48;

/// Clients opened against the starved daemon: more than its limit.
const STARVING_CLIENTS: usize = 120;

/// `conf get KEY` over remote management (which works while the file is broken), the bare
/// value.
fn conf_get(daemon: &ManagedDaemon, key: &str) -> String {
    succeeded(&daemon.cli_remote(&["conf", "get", key], &[]))
        .trim_end()
        .to_owned()
}

/// The daemon's configuration with `line` added to its `[pgexporter]` section.
fn config_with(daemon: &ManagedDaemon, line: &str) -> String {
    let text = fs::read_to_string(daemon.home.config_file()).unwrap();
    text.replacen("[pgexporter]\n", &format!("[pgexporter]\n{line}\n"), 1)
}

#[test]
fn out_of_range_values_are_refused_by_every_path() {
    let daemon = ManagedDaemon::start("");
    let original = fs::read_to_string(daemon.home.config_file()).unwrap();
    let long_prefix = "x".repeat(4096);
    let values = OUT_OF_RANGE.iter().copied().chain([(
        "log_line_prefix",
        long_prefix.as_str(),
        "longer than",
    )]);
    for (round, (key, value, why)) in values.enumerate() {
        let before = conf_get(&daemon, key);

        let (code, stderr) = failed(&daemon.home.cli_local(&["conf", "set", key, value]));
        assert_eq!(code, 1, "conf set {key} {value}: {stderr}");
        assert_eq!(conf_get(&daemon, key), before, "conf set {key} {value}");

        fs::write(
            daemon.home.config_file(),
            config_with(&daemon, &format!("{key} = {value}")),
        )
        .unwrap();
        daemon.exporter.signal(Signal::SIGHUP);
        eventually(&format!("SIGHUP refuses {key} = {value}"), || {
            daemon
                .exporter
                .log()
                .matches("the running configuration stays")
                .count()
                == round + 1
        });
        let log = daemon.exporter.log();
        let refusal = log
            .lines()
            .filter(|line| line.contains("the configuration cannot be reloaded"))
            .nth(round)
            .unwrap_or_else(|| panic!("{log}"));
        assert!(refusal.contains(key) && refusal.contains(why), "{refusal}");
        assert_eq!(conf_get(&daemon, key), before, "SIGHUP {key} = {value}");

        let config = daemon.home.config_file();
        let start = daemon.home.run_to_exit(&["-c", config.to_str().unwrap()]);
        let (_, stderr) = failed(&start);
        assert!(
            stderr.contains(key) && stderr.contains(why),
            "start with {key} = {value}: {stderr}"
        );
        fs::write(daemon.home.config_file(), &original).unwrap();
    }
    let body = daemon.exporter.scrape();
    assert!(body.contains("pgexporter_state 1\n"), "{body}");
}

/// CPU time (user and system) the process `pid` has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime are the 14th and 15th fields; the state (3rd) is the first after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .unwrap()
        .unwrap() as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

#[test]
fn out_of_file_descriptors_the_daemon_rests_logs_once_a_second_and_recovers() {
    let daemon = ManagedDaemon::start("");
    let pid = daemon.exporter.pid();
    let limit = format!("--nofile={STARVED_LIMIT}:{STARVED_LIMIT}");
    let prlimit = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &limit])
        .output()
        .expect("prlimit runs (apt-get install util-linux)");
    succeeded(&prlimit);

    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let clients: Vec<TcpStream> = (0..STARVING_CLIENTS)
        .filter_map(|_| {
            TcpStream::connect_timeout(&daemon.exporter.address(), Duration::from_millis(250)).ok()
        })
        .collect();
    thread::sleep(STARVED_FOR);
    let elapsed = started.elapsed();
    let cpu = cpu_time(pid) - cpu_before;
    let log = daemon.exporter.log();
    // Out of descriptors, a runtime fails to accept, or (fork) to make a child's channel.
    let failures = log.matches("Too many open files").count();
    eprintln!(
        "{} clients, {failures} lines out of descriptors, {cpu:?} of CPU in {elapsed:?}",
        clients.len()
    );
    assert!(
        clients.len() > STARVED_LIMIT as usize,
        "only {} clients connected",
        clients.len()
    );
    assert!(failures >= 1, "the limit was never reached: {log}");
    let most = (elapsed.as_secs() as usize + 2) * 2;
    assert!(
        failures <= most,
        "{failures} lines out of descriptors in {elapsed:?} (at most {most}): {log}"
    );
    assert!(
        cpu < elapsed / 2,
        "{cpu:?} of CPU in {elapsed:?} while out of file descriptors"
    );

    drop(clients);
    eventually("a scrape once the clients are gone", || {
        daemon.exporter.get("/metrics", &[]).status == 200
    });
}

#[test]
fn sigusr1_with_the_log_directory_gone_says_so_on_standard_error() {
    let logs = std::env::temp_dir().join(format!("pgexporter-hostile-logs-{}", std::process::id()));
    fs::create_dir_all(&logs).unwrap();
    let log_path = logs.join("pgexporter.log");
    let daemon = ManagedDaemon::start(&format!(
        "log_type = file\nlog_path = {}\n",
        log_path.display()
    ));
    eventually("the log file has the start lines", || {
        fs::read_to_string(&log_path).is_ok_and(|text| text.contains("management socket"))
    });
    fs::remove_dir_all(&logs).unwrap();
    daemon.exporter.signal(Signal::SIGUSR1);
    eventually(
        "standard error says the log file cannot be reopened",
        || daemon.exporter.log().contains("cannot reopen the log file"),
    );
    let stderr = daemon.exporter.log();
    assert!(stderr.contains("still writing to"), "{stderr}");
    succeeded(&daemon.cli_remote(&["ping"], &[]));
}

#[test]
fn a_sabotaged_users_file_refuses_the_reload_and_the_old_passwords_stay() {
    let daemon = ManagedDaemon::start("");
    daemon.exporter.scrape();
    let users = daemon.home.users_file();
    let good = fs::read(&users).unwrap();
    let refusals = || {
        daemon
            .exporter
            .log()
            .matches("the new configuration cannot be applied")
            .count()
    };
    let sabotages: [(&str, &dyn Fn()); 3] = [
        ("replaced by a directory", &|| {
            fs::remove_file(&users).unwrap();
            fs::create_dir(&users).unwrap();
        }),
        ("removed", &|| fs::remove_dir(&users).unwrap()),
        ("corrupted", &|| {
            fs::write(&users, b"\xff\xfe not a users file\n").unwrap()
        }),
    ];
    for (round, (what, sabotage)) in sabotages.iter().enumerate() {
        sabotage();
        daemon.exporter.signal(Signal::SIGHUP);
        // Twice per SIGHUP: the failure to apply, and the reload's outcome.
        eventually(
            &format!("SIGHUP with the users file {what} is refused"),
            || refusals() == 2 * (round + 1),
        );
        let body = daemon.exporter.scrape();
        assert!(
            body.contains("pgexporter_postgresql_active{server=\"primary\"} 1\n"),
            "users file {what}: {body}"
        );
    }
    let (code, _) = failed(&daemon.home.cli_local(&["conf", "reload"]));
    assert_eq!(code, 1, "conf reload with a corrupted users file");

    fs::write(&users, good).unwrap();
    let reloaded = succeeded(&daemon.home.cli_local(&["-F", "json", "conf", "reload"]));
    assert!(
        reloaded.contains("the users and metric files were read again"),
        "{reloaded}"
    );
    let log = daemon.exporter.log();
    assert!(!log.contains("secret"), "{log}");
}

/// Clients that keep their connection open after a response: more than the fork runtime's
/// metrics slots.
const IDLE_CLIENTS: usize = 80;

#[test]
fn clients_idle_after_a_response_beyond_the_process_cap_lock_nobody_out() {
    let daemon = ManagedDaemon::start("");
    let mut idle = Vec::with_capacity(IDLE_CLIENTS);
    for client in 0..IDLE_CLIENTS {
        let mut stream = TcpStream::connect(daemon.exporter.address()).unwrap();
        stream.set_read_timeout(Some(IDLE_READ_TIMEOUT)).unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: hostile\r\n\r\n")
            .unwrap();
        let mut head = [0; 12];
        stream
            .read_exact(&mut head)
            .unwrap_or_else(|error| panic!("client {client} got no answer: {error}"));
        assert_eq!(&head, b"HTTP/1.1 200", "client {client}");
        idle.push(stream);
    }
    let body = daemon.exporter.scrape();
    assert!(
        body.contains("pgexporter_postgresql_active{server=\"primary\"} 1\n"),
        "{body}"
    );
    succeeded(&daemon.home.cli_local(&["ping"]));
}

/// Clients that connect to the metrics port and never send.
const SILENT_CLIENTS: usize = 200;

/// Clients that send a request and never read its answer.
const NON_READING_CLIENTS: usize = 100;

/// Connections to the remote management port that never send.
const STALLED_MANAGEMENT: usize = 200;

/// How long scrapes and pings are checked while the hostile clients hold their connections.
const CHECKED_FOR: Duration = Duration::from_secs(4);

/// The scrape deadline the checking scrapes ask for.
const SCRAPE_DEADLINE: Duration = Duration::from_secs(5);

/// How long the daemon's CPU time is measured while the hostile clients idle.
const IDLE_FOR: Duration = Duration::from_secs(2);

/// A scrape asking for [`SCRAPE_DEADLINE`], which must be answered whole within it (and a
/// second for the answer to travel).
fn scrape_within_deadline(daemon: &ManagedDaemon) -> Duration {
    let asked = Instant::now();
    let seconds = SCRAPE_DEADLINE.as_secs().to_string();
    let response = daemon.exporter.get(
        "/metrics",
        &[("X-Prometheus-Scrape-Timeout-Seconds", seconds.as_str())],
    );
    let took = asked.elapsed();
    let body = response.text();
    assert_eq!(response.status, 200, "{body}");
    assert!(
        body.contains("pgexporter_postgresql_active{server=\"primary\"} 1\n"),
        "{body}"
    );
    assert!(
        took <= SCRAPE_DEADLINE + Duration::from_secs(1),
        "a scrape asking for {SCRAPE_DEADLINE:?} took {took:?}"
    );
    took
}

#[test]
fn silent_and_non_reading_clients_leave_metrics_and_management_served() {
    // Long enough that no hostile connection is closed for idling during the test.
    let daemon = ManagedDaemon::start("authentication_timeout = 60s\n");
    let metrics = daemon.exporter.address();
    let management = std::net::SocketAddr::from(([127, 0, 0, 1], daemon.management));
    let mut hostile = Vec::new();
    for _ in 0..SILENT_CLIENTS {
        hostile.push(TcpStream::connect(metrics).unwrap());
    }
    // A client that never sends costs a descriptor, never a process (at most one child may
    // still be ending from the start's readiness scrape).
    let held = most_children_at_once(&daemon);
    assert!(
        held <= 1,
        "{SILENT_CLIENTS} silent clients held {held} processes"
    );
    for _ in 0..STALLED_MANAGEMENT {
        hostile.push(TcpStream::connect(management).unwrap());
    }
    for _ in 0..NON_READING_CLIENTS {
        let mut stream = TcpStream::connect(metrics).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: hostile\r\n\r\n")
            .unwrap();
        hostile.push(stream);
    }

    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut rounds = 0;
    while started.elapsed() < CHECKED_FOR {
        slowest = slowest.max(scrape_within_deadline(&daemon));
        succeeded(&daemon.home.cli_local(&["ping"]));
        succeeded(&daemon.cli_remote(&["ping"], &[]));
        rounds += 1;
    }
    eprintln!(
        "{} hostile connections: {rounds} rounds of scrape and pings in {:?}, slowest scrape {slowest:?}",
        hostile.len(),
        started.elapsed()
    );

    let pid = daemon.exporter.pid();
    let cpu_before = cpu_time(pid);
    let idle_started = Instant::now();
    thread::sleep(IDLE_FOR);
    let idle = idle_started.elapsed();
    let cpu = cpu_time(pid) - cpu_before;
    eprintln!("{cpu:?} of CPU in {idle:?} while the hostile clients idle");
    assert!(
        cpu < idle / 10,
        "{cpu:?} of CPU in {idle:?} while {} clients idle",
        hostile.len()
    );
    scrape_within_deadline(&daemon);
    drop(hostile);
}

/// Wrong proofs sent in parallel from one address.
const PARALLEL_GUESSES: u32 = 40;

/// How long a guessing client waits for its refusal before the test fails.
const GUESS_TIMEOUT: Duration = Duration::from_secs(120);

/// Logs in to remote management at `address` as `ADMIN` with a wrong password, over a plain
/// connection; the moment the refusal arrived.
fn guess_wrong(address: std::net::SocketAddr) -> Instant {
    let now = Instant::now();
    let password = Secret::from("not-the-password");
    let mut client =
        ClientHandshake::new(ADMIN, password, TlsMode::Off, now, GUESS_TIMEOUT, [7; 18])
            .expect("a valid admin name");
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(GUESS_TIMEOUT)).unwrap();
    let mut out = BytesMut::new();
    let mut buffer = [0; 4096];
    loop {
        while client.poll_transmit(&mut out) {}
        stream.write_all(&out).unwrap();
        out.clear();
        match client.poll_event() {
            Some(ClientEvent::Failed(error)) => {
                assert!(error.to_string().contains("28P01"), "{error}");
                return Instant::now();
            }
            Some(ClientEvent::Authenticated) => panic!("a wrong password logged in"),
            None => {}
        }
        let read = stream.read(&mut buffer).expect("the refusal in time");
        assert!(read > 0, "the connection closed before the refusal");
        client.handle_input(Instant::now(), &buffer[..read]);
    }
}

/// How long the daemon's children are counted while the wrong proofs are held back.
const COUNTED_FOR: Duration = Duration::from_secs(3);

/// The most processes serving the daemon's connections seen at once over [`COUNTED_FOR`],
/// zombies left out (the fork runtime serves each connection in a child; the others have
/// none).
fn most_children_at_once(daemon: &ManagedDaemon) -> usize {
    let pid = daemon.exporter.pid();
    let started = Instant::now();
    let mut most = 0;
    while started.elapsed() < COUNTED_FOR {
        let live = children_of(pid)
            .into_iter()
            .filter(|(_, state)| *state != 'Z')
            .count();
        most = most.max(live);
        thread::sleep(Duration::from_millis(10));
    }
    most
}

#[test]
fn parallel_wrong_proofs_from_one_address_are_refused_one_delay_apart() {
    // Long enough that no guessing connection waiting for its turn is closed.
    let daemon = ManagedDaemon::start("authentication_timeout = 90s\n");
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], daemon.management));
    let started = Instant::now();
    let guesses: Vec<_> = (0..PARALLEL_GUESSES)
        .map(|_| thread::spawn(move || guess_wrong(address)))
        .collect();
    // Every guess comes from 127.0.0.1: no more than its share is served at once.
    let share = source_share(ListenerKind::RemoteManagement).unwrap();
    let most = most_children_at_once(&daemon);
    eprintln!("at most {most} children at once while {PARALLEL_GUESSES} wrong proofs wait");
    assert!(
        most <= share,
        "one address held {most} remote management processes, its share is {share}"
    );
    succeeded(&daemon.home.cli_local(&["ping"]));
    let refused: Vec<Instant> = guesses
        .into_iter()
        .map(|guess| guess.join().unwrap())
        .collect();
    let took = refused.iter().max().unwrap().duration_since(started);
    let first = refused.iter().min().unwrap().duration_since(started);
    eprintln!(
        "{PARALLEL_GUESSES} wrong proofs in parallel: first refusal after {first:?}, last after {took:?}"
    );
    assert!(
        took >= REFUSAL_DELAY * PARALLEL_GUESSES,
        "{PARALLEL_GUESSES} wrong proofs in parallel were all refused within {took:?}"
    );
    succeeded(&daemon.cli_remote(&["ping"], &[]));
}
