//! Authentication: trust, cleartext, MD5, SCRAM-SHA-256 and their failures.

use super::*;

#[test]
fn trust_login_sends_startup_and_becomes_ready() {
    let mut harness = Harness::new(params(TlsMode::Off, None));
    let mut sent = harness.take_sent();
    assert_eq!(
        startup_parameters_sent(&mut sent),
        [
            ("user".to_owned(), "exporter".to_owned()),
            ("database".into(), "postgres".into()),
            ("application_name".into(), "pgexporter".into()),
            ("client_encoding".into(), "UTF8".into()),
            ("statement_timeout".into(), "5000".into()),
        ]
    );
    assert!(sent.is_empty());
    assert!(!harness.connection.is_ready());
    harness.login();
    assert!(harness.connection.is_ready());
    assert_eq!(harness.connection.server_version_num(), Some(150_018));
    assert_eq!(
        harness.connection.parameter("server_encoding"),
        Some("UTF8")
    );
    assert_eq!(harness.connection.parameter("TimeZone"), None);
    let key = harness
        .connection
        .cancel_key()
        .expect("BackendKeyData arrived");
    assert_eq!(key.process_id(), 4242);
    let mut packet = BytesMut::new();
    key.cancel_request(&mut packet);
    assert_eq!(
        &packet[8..],
        [0, 0, 0x10, 0x92, 0, 0, 0, 99],
        "the secret key is sent"
    );
    assert!(
        !format!("{key:?}").contains("99"),
        "the secret key is never shown"
    );
    assert_eq!(harness.connection.poll_timeout(), None);
}

#[test]
fn client_encoding_option_overrides_the_default() {
    let mut connect = params(TlsMode::Off, None);
    connect.options = vec![("client_encoding".into(), "LATIN1".into())];
    let mut harness = Harness::new(connect);
    let sent = startup_parameters_sent(&mut harness.take_sent());
    assert_eq!(
        sent.iter()
            .filter(|(name, _)| name == "client_encoding")
            .count(),
        1
    );
    assert!(sent.contains(&("client_encoding".into(), "LATIN1".into())));
}

#[test]
fn cleartext_password_login() {
    let mut harness = Harness::new(params(TlsMode::Off, Some("s3cret")));
    harness.take_sent();
    harness
        .server(&[auth(Authentication::CleartextPassword)])
        .unwrap();
    assert_eq!(
        frontend_messages(harness.take_sent()),
        [(b'p', b"s3cret\0".to_vec())]
    );
    harness.login();
}

#[test]
fn md5_password_login() {
    let mut harness = Harness::new(params(TlsMode::Off, Some("s3cret")));
    harness.take_sent();
    harness
        .server(&[auth(Authentication::Md5Password { salt: [1, 2, 3, 4] })])
        .unwrap();
    let sent = frontend_messages(harness.take_sent());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, b'p');
    // md5(md5hex("s3cret" + "exporter") + salt), computed independently of the client code.
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let inner = hex(&md5::Md5::digest(b"s3cretexporter"));
    let mut outer_input = inner.into_bytes();
    outer_input.extend_from_slice(&[1, 2, 3, 4]);
    let expected = format!("md5{}\0", hex(&md5::Md5::digest(&outer_input)));
    assert_eq!(sent[0].1, expected.as_bytes());
    harness.login();
}

/// Runs the SASL exchange against an in-memory SCRAM server that knows `server_password`.
/// On a wrong proof the server answers like PostgreSQL, with a FATAL 28P01 error.
fn scram_login(client_password: &str, server_password: &str) -> Harness {
    let mut harness = Harness::new(params(TlsMode::Off, Some(client_password)));
    harness.take_sent();
    harness
        .server(&[auth(Authentication::Sasl {
            mechanisms: vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()],
        })])
        .unwrap();
    let initial = frontend_messages(harness.take_sent());
    let mut body = BytesMut::from(&initial[0].1[..]);
    let mechanism = body.split_to(14);
    assert_eq!(&mechanism[..], b"SCRAM-SHA-256\0");
    let len = body.get_i32() as usize;
    assert_eq!(body.len(), len);
    let expected_first = format!(
        "n,,n=,r={}",
        base64::engine::general_purpose::STANDARD.encode(NONCE)
    );
    assert_eq!(&body[..], expected_first.as_bytes());

    let verifier =
        ScramVerifier::derive(&Secret::from(server_password), b"salt-of-16-bytes", 4096).unwrap();
    let server = ScramServer::new(verifier, "servernonce")
        .unwrap()
        .handle_client_first(&body)
        .unwrap();
    harness
        .server(&[auth(Authentication::SaslContinue(
            server.message().to_vec().into(),
        ))])
        .unwrap();
    let response = frontend_messages(harness.take_sent());
    assert_eq!(response[0].0, b'p');
    match server.handle_client_final(&response[0].1) {
        Ok(server_final) => {
            let _ = harness.server(&[auth(Authentication::SaslFinal(server_final.into()))]);
        }
        Err(error) => {
            assert_eq!(error, crate::scram::ScramError::WrongProof);
            let _ = harness.server(&[Message::ErrorResponse(server_error(
                "FATAL",
                "28P01",
                "password authentication failed for user \"exporter\"",
            ))]);
        }
    }
    harness
}

#[test]
fn scram_login_with_the_right_password() {
    let mut harness = scram_login("correct", "correct");
    assert!(harness.take_events().is_empty());
    harness.login();
}

#[test]
fn scram_login_with_a_wrong_password_reports_the_server_error() {
    let harness = scram_login("wrong", "right");
    let Some(Some(Error::Server(error))) = closed_with(&harness.events) else {
        panic!("expected a server error, got {:?}", harness.events);
    };
    assert_eq!(error.code(), "28P01");
}

#[test]
fn scram_server_with_a_wrong_signature_is_refused() {
    let mut harness = Harness::new(params(TlsMode::Off, Some("pw")));
    harness
        .server(&[auth(Authentication::Sasl {
            mechanisms: vec!["SCRAM-SHA-256".into()],
        })])
        .unwrap();
    let nonce = base64::engine::general_purpose::STANDARD.encode(NONCE);
    let server_first = format!("r={nonce}xyz,s=c2FsdA==,i=4096");
    harness
        .server(&[auth(Authentication::SaslContinue(
            server_first.into_bytes().into(),
        ))])
        .unwrap();
    let signature = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
    let result = harness.server(&[auth(Authentication::SaslFinal(
        format!("v={signature}").into_bytes().into(),
    ))]);
    let expected = Error::Scram(crate::scram::ScramError::WrongServerSignature);
    assert_eq!(result, Err(expected.clone()));
    assert_eq!(closed_with(&harness.events), Some(&Some(expected)));
}

#[test]
fn authentication_ok_before_scram_completes_is_refused() {
    let mut harness = Harness::new(params(TlsMode::Off, Some("pw")));
    harness
        .server(&[auth(Authentication::Sasl {
            mechanisms: vec!["SCRAM-SHA-256".into()],
        })])
        .unwrap();
    assert_eq!(
        harness.server(&[auth(Authentication::Ok)]),
        Err(Error::Protocol(ProtocolError::Unexpected(
            "AuthenticationOk"
        )))
    );
}

#[test]
fn authentication_failures_of_each_method_are_server_errors() {
    let methods = [
        None,
        Some(Authentication::CleartextPassword),
        Some(Authentication::Md5Password { salt: [9, 8, 7, 6] }),
    ];
    for method in methods {
        let mut harness = Harness::new(params(TlsMode::Off, Some("bad")));
        harness.take_sent();
        if let Some(request) = method.clone() {
            harness.server(&[auth(request)]).unwrap();
            let answer = frontend_messages(harness.take_sent());
            assert_eq!(answer.len(), 1, "{method:?}");
            assert_eq!(answer[0].0, b'p');
        }
        // Trust fails only for reasons like a missing role (28000); the others say 28P01.
        let code = if method.is_some() { "28P01" } else { "28000" };
        let error = server_error("FATAL", code, "authentication failed");
        assert_eq!(
            harness.server(&[Message::ErrorResponse(error.clone())]),
            Err(Error::Server(error.clone()))
        );
        assert_eq!(
            closed_with(&harness.events),
            Some(&Some(Error::Server(error)))
        );
        assert!(!harness.connection.is_ready());
        assert_eq!(harness.connection.poll_timeout(), None);
    }
}

#[test]
fn missing_password_is_a_clear_error() {
    for request in [
        Authentication::CleartextPassword,
        Authentication::Md5Password { salt: [0; 4] },
        Authentication::Sasl {
            mechanisms: vec!["SCRAM-SHA-256".into()],
        },
    ] {
        let mut harness = Harness::new(params(TlsMode::Off, None));
        assert_eq!(
            harness.server(&[auth(request)]),
            Err(Error::PasswordRequired)
        );
        assert_eq!(
            closed_with(&harness.events),
            Some(&Some(Error::PasswordRequired))
        );
    }
}

#[test]
fn unsupported_methods_are_reported() {
    let mut harness = Harness::new(params(TlsMode::Off, Some("pw")));
    assert_eq!(
        harness.server(&[auth(Authentication::Unsupported { code: 7 })]),
        Err(Error::UnsupportedAuth(UnsupportedAuth::Method { code: 7 }))
    );
}
