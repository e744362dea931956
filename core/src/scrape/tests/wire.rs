//! The scripted servers' side of the wire: the backend messages they write and how they
//! answer what the collector sends.

use std::collections::HashMap;

use bytes::{Buf, BufMut, BytesMut};

use super::{Answer, ScriptedServer};

pub(super) fn message(out: &mut BytesMut, tag: u8, body: &[u8]) {
    out.put_u8(tag);
    out.put_i32(body.len() as i32 + 4);
    out.put_slice(body);
}

pub(super) fn ready(out: &mut BytesMut) {
    message(out, b'Z', b"I");
}

pub(super) fn rows(out: &mut BytesMut, columns: &[&str], rows: &[Vec<Option<String>>]) {
    row_description(out, columns);
    data_rows(out, rows);
}

pub(super) fn row_description(out: &mut BytesMut, columns: &[&str]) {
    let mut body = BytesMut::new();
    body.put_i16(columns.len() as i16);
    for name in columns {
        body.put_slice(name.as_bytes());
        body.put_u8(0);
        body.put_i32(0);
        body.put_i16(0);
        body.put_u32(25);
        body.put_i16(-1);
        body.put_i32(-1);
        body.put_i16(0);
    }
    message(out, b'T', &body);
}

/// The DataRows and CommandComplete of `rows`.
pub(super) fn data_rows(out: &mut BytesMut, rows: &[Vec<Option<String>>]) {
    for row in rows {
        let mut body = BytesMut::new();
        body.put_i16(row.len() as i16);
        for value in row {
            match value {
                Some(text) => {
                    body.put_i32(text.len() as i32);
                    body.put_slice(text.as_bytes());
                }
                None => body.put_i32(-1),
            }
        }
        message(out, b'D', &body);
    }
    message(out, b'C', format!("SELECT {}\0", rows.len()).as_bytes());
}

pub(super) fn error(out: &mut BytesMut, code: &str) {
    let body = format!("SERROR\0C{code}\0Mscripted failure\0\0");
    message(out, b'E', body.as_bytes());
}

/// Everything one connection of a scripted server has seen, and its session state.
#[derive(Default)]
pub(super) struct Wire {
    pub(super) started: bool,
    pub(super) received: BytesMut,
    /// Prepared statements by name.
    pub(super) statements: HashMap<String, String>,
    /// The SQL of the unnamed portal.
    pub(super) portal: Option<String>,
    /// An error happened in an extended-query cycle: messages are ignored up to Sync.
    pub(super) skipping: bool,
    /// Frontend message types received after startup, in order.
    pub(super) messages: Vec<u8>,
    /// The database named in the startup message.
    pub(super) database: String,
    /// The `lock_timeout` of the startup message.
    pub(super) lock_timeout: Option<String>,
    /// The process id and secret key of a CancelRequest, when the connection carried one.
    pub(super) cancel_request: Option<(i32, i32)>,
    /// Terminate arrived: the backend exits and closes its end.
    pub(super) terminated: bool,
}

impl Wire {
    /// How many messages of type `tag` arrived.
    pub(super) fn count(&self, tag: u8) -> usize {
        self.messages.iter().filter(|&&t| t == tag).count()
    }
}

/// The process id every scripted backend reports in its BackendKeyData.
pub(super) const BACKEND_PID: i32 = 4242;
/// The secret key every scripted backend reports in its BackendKeyData.
pub(super) const SECRET_KEY: i32 = -77;

/// Answers every whole frontend message in `wire`: simple queries and the extended protocol
/// (Parse, Bind, Describe portal, Execute, Sync, Close), and takes a CancelRequest in place of
/// a startup message. A silent server answers nothing after startup. Terminate marks the wire
/// terminated: the caller closes the server's end.
pub(super) fn respond(server: &ScriptedServer, wire: &mut Wire) -> BytesMut {
    let mut out = BytesMut::new();
    if !wire.started && (&wire.received[4..8]).get_i32() == 80_877_102 {
        let key = (
            (&wire.received[8..12]).get_i32(),
            (&wire.received[12..16]).get_i32(),
        );
        wire.cancel_request = Some(key);
        wire.received.clear();
        return out;
    }
    if !wire.started && server.stalled_startup {
        return out;
    }
    if !wire.started {
        let length = (&wire.received[..4]).get_i32() as usize;
        let parameters: Vec<&[u8]> = wire.received[8..length].split(|&b| b == 0).collect();
        let parameter = |name: &[u8]| {
            parameters
                .chunks(2)
                .find(|pair| pair[0] == name)
                .map(|pair| String::from_utf8_lossy(pair[1]).into_owned())
        };
        wire.database = parameter(b"database").unwrap_or_default();
        wire.lock_timeout = parameter(b"lock_timeout");
        wire.received.advance(length);
        wire.started = true;
        message(&mut out, b'R', &0i32.to_be_bytes());
        message(&mut out, b'S', b"server_version\x0015.4\0");
        message(
            &mut out,
            b'K',
            &[BACKEND_PID.to_be_bytes(), SECRET_KEY.to_be_bytes()].concat(),
        );
        ready(&mut out);
    }
    while wire.received.len() >= 5 {
        let length = (&wire.received[1..5]).get_i32() as usize;
        let frame = wire.received.split_to(1 + length);
        let tag = frame[0];
        wire.messages.push(tag);
        if server.silent || (wire.skipping && tag != b'S') {
            continue;
        }
        let mut fields = frame[5..]
            .split(|&b| b == 0)
            .map(|field| std::str::from_utf8(field).unwrap_or_default());
        match tag {
            b'Q' => {
                match server.answer(fields.next().unwrap(), &wire.database) {
                    Answer::Rows(columns, data) => rows(&mut out, &columns, &data),
                    Answer::Error(code) => error(&mut out, code),
                }
                ready(&mut out);
            }
            b'P' => {
                let (name, sql) = (fields.next().unwrap(), fields.next().unwrap());
                if sql.contains(';') {
                    fail(&mut out, wire, "42601");
                } else {
                    wire.statements.insert(name.to_owned(), sql.to_owned());
                    message(&mut out, b'1', b"");
                }
            }
            b'B' => {
                let statement = fields.nth(1).unwrap();
                match wire.statements.get(statement) {
                    Some(sql) => {
                        wire.portal = Some(sql.clone());
                        message(&mut out, b'2', b"");
                    }
                    None => fail(&mut out, wire, "26000"),
                }
            }
            b'D' | b'E' => {
                let sql = wire.portal.as_deref().expect("a bound portal");
                match (server.answer(sql, &wire.database), tag) {
                    (Answer::Rows(columns, _), b'D') => row_description(&mut out, &columns),
                    (Answer::Rows(_, data), _) => data_rows(&mut out, &data),
                    (Answer::Error(code), _) => fail(&mut out, wire, code),
                }
            }
            b'S' => {
                wire.skipping = false;
                ready(&mut out);
            }
            b'C' => message(&mut out, b'3', b""),
            b'X' => wire.terminated = true,
            other => panic!("unexpected frontend message {:?}", other as char),
        }
    }
    out
}

/// An error in an extended-query cycle: reported, then everything up to Sync is ignored.
pub(super) fn fail(out: &mut BytesMut, wire: &mut Wire, code: &str) {
    error(out, code);
    wire.skipping = true;
}
