//! Phone-side client: handshake and high-level operations over any
//! [`BleChannel`], with pipelined, flow-controlled transfers.

use std::collections::VecDeque;
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::flow::{Link, LinkStats};
use crate::frame::FrameError;
use crate::message::{
    chunk_data_len, BindVehicle, ConfigBegin, ConfigChunk, ConfigCommit, ConfigCommitted,
    DeviceInfo, ErrorMessage, Message, RevocationStatus, SessionReady, VehicleInfo, VehicleTest,
    VehicleTestId, VehicleTestResult,
};
use crate::security::{
    AccessGrant, Attestation, PhoneHandshake, PhoneKey, SecurityError, SessionCipher,
    SignedRevocationList,
};
use crate::transport::{BleChannel, TransportError};

/// Client timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// Give up when the device sends nothing for this long while a response is
    /// awaited.
    pub response_timeout: Duration,
    /// Resend unacknowledged frames after this long without an ACK.
    pub retransmit_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            response_timeout: Duration::from_secs(15),
            retransmit_timeout: Duration::from_millis(500),
        }
    }
}

/// Client failures.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The link dropped during a configuration transfer; reconnect and call
    /// [`Connection::write_config`] again to resume from `acked_offset`.
    #[error("configuration transfer interrupted at {acked_offset}/{total} bytes: {source}")]
    Interrupted {
        /// Bytes the device acknowledged as staged.
        acked_offset: u32,
        /// Total configuration length.
        total: u32,
        /// What broke.
        source: TransportError,
    },
    /// The device answered with an error.
    #[error("device error {}: {}", .0.code, .0.detail)]
    Device(ErrorMessage),
    /// The handshake or a record failed a security check.
    #[error("security: {0}")]
    Security(#[from] SecurityError),
    /// The device sent something the protocol does not allow here.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Framing setup failed (bad MTU).
    #[error("framing: {0}")]
    Frame(#[from] FrameError),
}

impl ClientError {
    /// The device error code, if this is a device error.
    pub fn device_code(&self) -> Option<crate::ErrorCode> {
        match self {
            ClientError::Device(e) => Some(e.code),
            _ => None,
        }
    }
}

/// Configuration transfer progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigProgress {
    /// Bytes the device acknowledged as staged.
    pub acked: u32,
    /// Total bytes.
    pub total: u32,
    /// Offset this attempt resumed from (0 for a fresh transfer).
    pub resumed_from: u32,
}

/// The device's active configuration as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSnapshot {
    /// Configuration id (empty when none).
    pub config_id: String,
    /// Content.
    pub bytes: Vec<u8>,
    /// SHA-256 (verified against `bytes`).
    pub sha256: [u8; 32],
}

/// An authenticated session with one CloudBoxx.
pub struct Connection {
    channel: BleChannel,
    link: Link,
    cipher: Option<SessionCipher>,
    ready: SessionReady,
    job_id: String,
    config: ClientConfig,
    inbox: VecDeque<Vec<u8>>,
    revocation_status: Option<Result<RevocationStatus, ErrorMessage>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("serial", &self.channel.serial)
            .field("job_id", &self.job_id)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Run the handshake on a fresh channel and return the session.
    pub async fn handshake(
        channel: BleChannel,
        grant: &AccessGrant,
        job_id: &str,
        phone_key: &PhoneKey,
        config: ClientConfig,
    ) -> Result<Self, ClientError> {
        Self::handshake_with_revocations(channel, grant, job_id, phone_key, config, None).await
    }

    /// [`Connection::handshake`], first handing the device a signed
    /// revocation list the phone holds for it (plaintext, before the Hello:
    /// the list authenticates itself). The device's answer is kept in
    /// [`Connection::revocation_status`]; a refused list does not stop the
    /// session.
    pub async fn handshake_with_revocations(
        channel: BleChannel,
        grant: &AccessGrant,
        job_id: &str,
        phone_key: &PhoneKey,
        config: ClientConfig,
        revocations: Option<&SignedRevocationList>,
    ) -> Result<Self, ClientError> {
        let link = Link::new(channel.mtu)?;
        let mut conn = Self {
            channel,
            link,
            cipher: None,
            ready: SessionReady {
                permissions: 0,
                not_after: 0,
            },
            job_id: job_id.to_owned(),
            config,
            inbox: VecDeque::new(),
            revocation_status: None,
        };
        let (hs, hello) = PhoneHandshake::start(grant, job_id, phone_key)?;
        if let Some(list) = revocations {
            conn.link.send_message(
                &Message::RevocationUpdate {
                    list: list.encode(),
                }
                .encode(),
            );
            let answer =
                Message::decode(&conn.recv_record().await?).map_err(SecurityError::from)?;
            conn.revocation_status = Some(match answer {
                Message::RevocationStatus(s) => Ok(s),
                Message::Error(e) => {
                    tracing::warn!(code = %e.code, detail = %e.detail, "the device refused the revocation list");
                    Err(e)
                }
                other => {
                    return Err(ClientError::Protocol(format!(
                        "expected RevocationStatus, got 0x{:02x}",
                        other.type_byte()
                    )))
                }
            });
        }
        conn.link.send_message(&hello.encode());
        let challenge =
            match Message::decode(&conn.recv_record().await?).map_err(SecurityError::from)? {
                Message::Challenge(c) => c,
                Message::Error(e) => return Err(ClientError::Device(e)),
                other => {
                    return Err(ClientError::Protocol(format!(
                        "expected Challenge, got 0x{:02x}",
                        other.type_byte()
                    )))
                }
            };
        let (finish, mut cipher) = hs.on_challenge(&challenge, &mut rand_core::OsRng)?;
        conn.link.send_message(&finish.encode());
        let record = conn.recv_record().await?;
        if record.first() != Some(&crate::security::SEALED_RECORD_TYPE) {
            return match Message::decode(&record) {
                Ok(Message::Error(e)) => Err(ClientError::Device(e)),
                _ => Err(ClientError::Protocol("expected sealed SessionReady".into())),
            };
        }
        conn.ready = PhoneHandshake::on_ready(&mut cipher, &record)?;
        conn.cipher = Some(cipher);
        tracing::info!(serial = %conn.channel.serial, "session established");
        Ok(conn)
    }

    /// What the device granted for this session.
    pub fn session(&self) -> SessionReady {
        self.ready
    }

    /// The device's answer to the revocation list handed over before the
    /// Hello (`None`: none was handed over).
    pub fn revocation_status(&self) -> Option<&Result<RevocationStatus, ErrorMessage>> {
        self.revocation_status.as_ref()
    }

    /// Serial of the connected device.
    pub fn serial(&self) -> &str {
        &self.channel.serial
    }

    /// Negotiated ATT MTU.
    pub fn mtu(&self) -> usize {
        self.channel.mtu
    }

    /// Link counters.
    pub fn link_stats(&self) -> LinkStats {
        self.link.stats()
    }

    fn send(&mut self, msg: &Message) -> Result<(), ClientError> {
        let cipher = self
            .cipher
            .as_mut()
            .ok_or(SecurityError::Unexpected("no session"))?;
        let record = cipher.seal_message(msg);
        self.link.send_message(&record);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        while let Some(frame) = self.link.poll_transmit() {
            self.channel.writer.write(&frame).await?;
        }
        Ok(())
    }

    /// Pump the link until a complete message (record) arrives.
    async fn recv_record(&mut self) -> Result<Vec<u8>, TransportError> {
        let mut idle_deadline = tokio::time::Instant::now() + self.config.response_timeout;
        loop {
            if let Some(r) = self.inbox.pop_front() {
                return Ok(r);
            }
            self.flush().await?;
            let now = tokio::time::Instant::now();
            if now >= idle_deadline {
                return Err(TransportError::Timeout);
            }
            let wait = if self.link.has_unacked() {
                self.config.retransmit_timeout.min(idle_deadline - now)
            } else {
                idle_deadline - now
            };
            match tokio::time::timeout(wait, self.channel.notifications.recv()).await {
                Ok(Some(bytes)) => {
                    idle_deadline = tokio::time::Instant::now() + self.config.response_timeout;
                    match self.link.handle_frame(&bytes) {
                        Ok(Some(record)) => self.inbox.push_back(record),
                        Ok(None) => {}
                        Err(e) => tracing::debug!(error = %e, "dropped frame"),
                    }
                }
                Ok(None) => return Err(TransportError::Disconnected),
                Err(_) => self.link.on_timeout(),
            }
        }
    }

    async fn recv(&mut self) -> Result<Message, ClientError> {
        let record = self.recv_record().await?;
        let cipher = self
            .cipher
            .as_mut()
            .ok_or(SecurityError::Unexpected("no session"))?;
        match cipher.open_message(&record)? {
            Message::Error(e) => Err(ClientError::Device(e)),
            m => Ok(m),
        }
    }

    fn unexpected<T>(what: &str, got: &Message) -> Result<T, ClientError> {
        Err(ClientError::Protocol(format!(
            "expected {what}, got message 0x{:02x}",
            got.type_byte()
        )))
    }

    /// Read serial, versions, battery, binding and active config id.
    pub async fn device_info(&mut self) -> Result<DeviceInfo, ClientError> {
        self.send(&Message::DeviceInfoRequest)?;
        match self.recv().await? {
            Message::DeviceInfo(i) => Ok(i),
            m => Self::unexpected("DeviceInfo", &m),
        }
    }

    /// Read the VIN and model the vehicle itself reports.
    pub async fn vehicle_info(&mut self) -> Result<VehicleInfo, ClientError> {
        self.send(&Message::VehicleInfoRequest)?;
        match self.recv().await? {
            Message::VehicleInfo(i) => Ok(i),
            m => Self::unexpected("VehicleInfo", &m),
        }
    }

    /// Ask the device to sign what this session did for the job. The
    /// signature is the cloud's to check (with the device's registered
    /// key); the phone only decodes it.
    pub async fn attest(&mut self) -> Result<Attestation, ClientError> {
        self.send(&Message::AttestRequest {
            job_id: self.job_id.clone(),
        })?;
        match self.recv().await? {
            Message::Attestation { attestation } => {
                let a = Attestation::decode(&attestation).map_err(SecurityError::from)?;
                if a.fields.job_id != self.job_id {
                    return Err(ClientError::Protocol(format!(
                        "the device attested job {}, not {}",
                        a.fields.job_id, self.job_id
                    )));
                }
                Ok(a)
            }
            m => Self::unexpected("Attestation", &m),
        }
    }

    /// Bind the device to the grant's vehicle (installation).
    pub async fn bind_vehicle(&mut self, vin: &str) -> Result<String, ClientError> {
        self.send(&Message::BindVehicle(BindVehicle {
            job_id: self.job_id.clone(),
            vin: vin.to_owned(),
        }))?;
        match self.recv().await? {
            Message::VehicleBound { vin } => Ok(vin),
            m => Self::unexpected("VehicleBound", &m),
        }
    }

    /// Run one vehicle test.
    pub async fn run_test(
        &mut self,
        test: VehicleTestId,
    ) -> Result<VehicleTestResult, ClientError> {
        self.send(&Message::VehicleTest(VehicleTest { test }))?;
        match self.recv().await? {
            Message::VehicleTestResult(r) if r.test == test => Ok(r),
            m => Self::unexpected("VehicleTestResult", &m),
        }
    }

    /// Transactional configuration write: begin (the device reports how much of
    /// this exact configuration is already staged), stream chunks pipelined,
    /// commit. A link failure returns [`ClientError::Interrupted`] with the
    /// acknowledged offset; calling again on a new connection resumes.
    pub async fn write_config(
        &mut self,
        config_id: &str,
        bytes: &[u8],
        progress: &mut (dyn FnMut(ConfigProgress) + Send),
    ) -> Result<ConfigCommitted, ClientError> {
        let total = u32::try_from(bytes.len())
            .map_err(|_| ClientError::Protocol("configuration larger than 4 GiB".into()))?;
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        let mut acked = 0u32;
        let interrupted = |acked: u32, e: ClientError| match e {
            ClientError::Transport(source) => ClientError::Interrupted {
                acked_offset: acked,
                total,
                source,
            },
            other => other,
        };
        self.send(&Message::ConfigBegin(ConfigBegin {
            job_id: self.job_id.clone(),
            config_id: config_id.to_owned(),
            total_len: total,
            sha256,
        }))?;
        let ack = match self.recv().await.map_err(|e| interrupted(acked, e))? {
            Message::ConfigBeginAck(a) => a,
            m => return Self::unexpected("ConfigBeginAck", &m),
        };
        if ack.resume_offset > total {
            return Err(ClientError::Protocol("resume offset beyond total".into()));
        }
        let resumed_from = ack.resume_offset;
        acked = resumed_from;
        progress(ConfigProgress {
            acked,
            total,
            resumed_from,
        });
        let chunk = chunk_data_len(self.channel.mtu).min(usize::from(ack.max_chunk.max(1)));
        let mut next = resumed_from as usize;
        let mut commit_sent = false;
        let low_water = 64;
        loop {
            // Keep the link queue topped up without buffering the whole file.
            while !commit_sent && self.link.queued_frames() < low_water {
                if next < bytes.len() {
                    let end = (next + chunk).min(bytes.len());
                    self.send(&Message::ConfigChunk(ConfigChunk {
                        offset: next as u32,
                        data: bytes[next..end].to_vec(),
                    }))?;
                    next = end;
                } else {
                    self.send(&Message::ConfigCommit(ConfigCommit { sha256 }))?;
                    commit_sent = true;
                }
            }
            match self.recv().await.map_err(|e| interrupted(acked, e))? {
                Message::ConfigChunkAck(a) => {
                    acked = acked.max(a.offset.min(total));
                    progress(ConfigProgress {
                        acked,
                        total,
                        resumed_from,
                    });
                }
                Message::ConfigCommitted(c) => {
                    if c.sha256 != sha256 {
                        return Err(ClientError::Protocol("committed hash differs".into()));
                    }
                    return Ok(c);
                }
                m => return Self::unexpected("ConfigChunkAck or ConfigCommitted", &m),
            }
        }
    }

    /// Read the active configuration back and verify its hash.
    pub async fn read_config(&mut self) -> Result<ConfigSnapshot, ClientError> {
        self.send(&Message::ConfigReadBack)?;
        let header = match self.recv().await? {
            Message::ConfigDataHeader(h) => h,
            m => return Self::unexpected("ConfigDataHeader", &m),
        };
        let total = header.total_len as usize;
        if total > 64 * 1024 * 1024 {
            return Err(ClientError::Protocol("read-back too large".into()));
        }
        let mut bytes = Vec::with_capacity(total);
        while bytes.len() < total {
            match self.recv().await? {
                Message::ConfigData(d) if d.offset as usize == bytes.len() => {
                    if bytes.len() + d.data.len() > total || d.data.is_empty() {
                        return Err(ClientError::Protocol("read-back overruns".into()));
                    }
                    bytes.extend_from_slice(&d.data);
                }
                m => return Self::unexpected("ConfigData at the next offset", &m),
            }
        }
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if total > 0 && digest != header.sha256 {
            return Err(ClientError::Protocol("read-back hash mismatch".into()));
        }
        Ok(ConfigSnapshot {
            config_id: header.config_id,
            bytes,
            sha256: header.sha256,
        })
    }

    /// Flush pending acknowledgements and disconnect.
    pub async fn close(mut self) -> Result<(), ClientError> {
        let _ = self.flush().await;
        self.channel.writer.disconnect().await?;
        Ok(())
    }
}
