//! The rustls configurations of the TLS files a plan names, built once per set of files and
//! shared by the connections that use them; and the adapter each connection gets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use pgexporter_core::machine::Machine;
use pgexporter_core::plan::{ClientTlsFiles, ServerTlsFiles, Target};
use pgexporter_core::serve::ListenerTls;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};

use crate::{Tls, TlsConfigError, client_config, server_config};

/// Configurations by the files they were built from. [`TlsConfigs::clear`] forgets them
/// when a new plan is served, so files rewritten in place are read again.
#[derive(Default)]
pub struct TlsConfigs {
    servers: Mutex<HashMap<ServerTlsFiles, Arc<ServerConfig>>>,
    clients: Mutex<HashMap<ClientTlsFiles, Arc<ClientConfig>>>,
}

impl TlsConfigs {
    /// The server configuration of `files`.
    ///
    /// # Errors
    /// A [`TlsConfigError`] naming the file that cannot be read or is refused.
    pub fn server(&self, files: &ServerTlsFiles) -> Result<Arc<ServerConfig>, TlsConfigError> {
        let mut servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(config) = servers.get(files) {
            return Ok(Arc::clone(config));
        }
        let config = server_config(files)?;
        servers.insert(files.clone(), Arc::clone(&config));
        Ok(config)
    }

    /// The client configuration of `files`.
    ///
    /// # Errors
    /// A [`TlsConfigError`] naming the file that cannot be read or is refused.
    pub fn client(&self, files: &ClientTlsFiles) -> Result<Arc<ClientConfig>, TlsConfigError> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(config) = clients.get(files) {
            return Ok(Arc::clone(config));
        }
        let config = client_config(files)?;
        clients.insert(files.clone(), Arc::clone(&config));
        Ok(config)
    }

    /// Forgets every configuration.
    pub fn clear(&self) {
        self.servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// `service` behind the TLS of its listener.
    ///
    /// # Errors
    /// When the listener's TLS files cannot be used; the connection cannot be served.
    pub fn accept<M: Machine>(&self, service: M, tls: &ListenerTls) -> Result<Tls<M>, SetupError> {
        Ok(match tls {
            ListenerTls::Plain => Tls::plain(service),
            ListenerTls::Immediate(files) => Tls::server(service, self.server(files)?)?,
            ListenerTls::OnRequest(files) => Tls::server_on_request(service, self.server(files)?),
        })
    }

    /// `relay` to `target`, which starts TLS with the target's files when asked.
    ///
    /// # Errors
    /// When the target's TLS files cannot be used.
    pub fn connect<M: Machine>(&self, relay: M, target: &Target) -> Result<Tls<M>, SetupError> {
        let config = self.client(&target.tls_files)?;
        // The certificate check ignores names (as libpq's sslmode=require and verify-ca), so
        // a host that is not a valid TLS name is given a placeholder.
        let name = ServerName::try_from(target.tls_name().to_owned())
            .unwrap_or_else(|_| ServerName::try_from("localhost").expect("a valid name"));
        Ok(Tls::client_on_request(relay, config, name))
    }
}

/// Why a connection's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A file could not be used.
    #[error(transparent)]
    Config(#[from] TlsConfigError),
    /// rustls refused to start.
    #[error(transparent)]
    Start(#[from] crate::TlsError),
}
