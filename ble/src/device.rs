//! Device (peripheral) side: a sans-IO protocol engine per connection, the
//! configuration transaction store, a simple device for tests, and an async
//! runner for channel-based transports.
//!
//! The engine ([`DeviceConnection`]) owns framing, flow control, the handshake,
//! record sealing and per-operation authorization (permissions, job, vehicle,
//! grant time window). It yields authorized [`Request`]s; the firmware (the
//! sim-device, or [`BasicDevice`]) answers them with [`DeviceConnection::respond`],
//! immediately or later (e.g. after a simulated actuator delay).

use std::collections::HashMap;

use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use crate::flow::Link;
use crate::frame::FrameError;
use crate::message::{
    chunk_data_len, msg_type, BindVehicle, ConfigBegin, ConfigBeginAck, ConfigChunk,
    ConfigChunkAck, ConfigCommit, ConfigCommitted, ConfigData, ConfigDataHeader, DeviceInfo,
    ErrorCode, HintCode, Message, RevocationStatus, Unit, VehicleInfo, VehicleTestId,
    VehicleTestResult,
};
use crate::security::{
    AccessGrant, Attestation, AttestationFields, DeviceHandshake, DeviceIdentity,
    DeviceRevocations, Established, Permissions, SecurityError, SignedRevocationList, SigningKey,
    MAX_ATTESTED_TESTS, SEALED_RECORD_TYPE,
};
use crate::transport::{DevicePort, SharedHandler, TransportError};

/// An authorized, decoded operation for the firmware to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Reply with [`Message::DeviceInfo`].
    DeviceInfo,
    /// Reply with [`Message::ConfigBeginAck`] or an error (see [`ConfigStore`]).
    ConfigBegin(ConfigBegin),
    /// Reply with [`Message::ConfigChunkAck`] or an error.
    ConfigChunk(ConfigChunk),
    /// Reply with [`Message::ConfigCommitted`] or an error.
    ConfigCommit(ConfigCommit),
    /// Reply with a [`Message::ConfigDataHeader`] and [`Message::ConfigData`]s.
    ConfigReadBack,
    /// Bind to the vehicle (job and, when the grant names one, VIN already
    /// checked against the grant); the firmware refuses a VIN other than
    /// the vehicle's own (WrongVehicle). Reply with [`Message::VehicleBound`].
    BindVehicle(BindVehicle),
    /// Run a vehicle test; reply with [`Message::VehicleTestResult`].
    VehicleTest(VehicleTestId),
    /// Read the vehicle's own VIN and model; reply with [`Message::VehicleInfo`].
    VehicleInfo,
    /// Sign what the session did (job already checked against the grant);
    /// reply with [`attest`]'s message.
    Attest,
}

/// What this session did, as the engine saw the responses go out: what an
/// attestation covers beside the device's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionLog {
    /// Every vehicle test result sent in this session (the last
    /// [`MAX_ATTESTED_TESTS`]).
    pub tests: Vec<VehicleTestResult>,
    /// SHA-256 of the configuration read back in this session, if any.
    pub read_back_sha256: Option<[u8; 32]>,
}

impl SessionLog {
    fn note(&mut self, msg: &Message) {
        match msg {
            Message::VehicleTestResult(r) => {
                if self.tests.len() == MAX_ATTESTED_TESTS {
                    self.tests.remove(0);
                }
                self.tests.push(*r);
            }
            Message::ConfigDataHeader(h) if !h.config_id.is_empty() => {
                self.read_back_sha256 = Some(h.sha256);
            }
            _ => {}
        }
    }
}

/// Context of a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// The session's verified grant.
    pub grant: &'a AccessGrant,
    /// Device time (unix seconds).
    pub now: u64,
    /// Data bytes per [`ConfigData`] message at this connection's MTU.
    pub data_chunk_len: usize,
    /// What this session did so far.
    pub session: &'a SessionLog,
}

/// Firmware behaviour behind the engine.
pub trait DeviceHandler {
    /// Handle one authorized request and return the responses to send.
    fn handle(&mut self, request: Request, ctx: &RequestContext<'_>) -> Vec<Message>;
}

/// Permissions an operation needs.
pub fn required_permissions(request: &Request) -> Permissions {
    match request {
        Request::DeviceInfo => Permissions::NONE,
        Request::ConfigBegin(_)
        | Request::ConfigChunk(_)
        | Request::ConfigCommit(_)
        | Request::ConfigReadBack
        | Request::BindVehicle(_) => Permissions::CONFIGURE,
        Request::VehicleTest(t) if t.actuates() => Permissions::TEST | Permissions::COMMANDS,
        Request::VehicleTest(_) => Permissions::TEST,
        Request::VehicleInfo | Request::Attest => Permissions::NONE,
    }
}

/// The device's own state an attestation reports.
#[derive(Debug, Clone, Copy)]
pub struct AttestedState<'a> {
    /// VIN the device is bound to (empty: unbound).
    pub bound_vin: &'a str,
    /// VIN the vehicle reports (empty: none).
    pub vehicle_vin: &'a str,
    /// Model code the vehicle reports (empty: none).
    pub vehicle_model: &'a str,
    /// The active configuration.
    pub active_config: Option<&'a StoredConfig>,
}

/// Builds and signs the attestation of one session: the firmware calls
/// this for [`Request::Attest`] with its key, its next counter and its
/// state. Returns the [`Message::Attestation`] reply (or an Internal error
/// message should the fields not encode).
pub fn attest(
    device_key: &SigningKey,
    serial: &str,
    counter: u64,
    ctx: &RequestContext<'_>,
    state: AttestedState<'_>,
) -> Message {
    let fields = AttestationFields {
        device_serial: serial.to_owned(),
        job_id: ctx.grant.fields.job_id.clone(),
        grant_id: ctx.grant.fields.grant_id,
        counter,
        device_time: ctx.now,
        vehicle_vin: state.vehicle_vin.to_owned(),
        vehicle_model: state.vehicle_model.to_owned(),
        bound_vin: state.bound_vin.to_owned(),
        config_id: state
            .active_config
            .map(|c| c.config_id.clone())
            .unwrap_or_default(),
        config_sha256: state.active_config.map(|c| c.sha256),
        read_back_sha256: ctx.session.read_back_sha256,
        tests: ctx.session.tests.clone(),
    };
    match Attestation::sign(fields, device_key) {
        Ok(a) => Message::Attestation {
            attestation: a.encode(),
        },
        Err(e) => Message::error(
            ErrorCode::Internal,
            msg_type::ATTEST_REQUEST,
            format!("cannot sign the attestation: {e}"),
        ),
    }
}

/// The firmware's check of a BindVehicle against the vehicle it sits in:
/// `Some(error reply)` when the vehicle reports a VIN other than the one
/// to bind.
pub fn check_bind_against_vehicle(b: &BindVehicle, vehicle_vin: &str) -> Option<Message> {
    (!vehicle_vin.is_empty() && !b.vin.eq_ignore_ascii_case(vehicle_vin)).then(|| {
        Message::error(
            ErrorCode::WrongVehicle,
            msg_type::BIND_VEHICLE,
            format!("the vehicle reports VIN {vehicle_vin}, not {}", b.vin),
        )
    })
}

/// Engine for one BLE connection on the device.
#[derive(Debug)]
pub struct DeviceConnection {
    link: Link,
    handshake: DeviceHandshake,
    session: Option<Established>,
    close_after_flush: bool,
    /// Retransmission timeouts since the refusal (bounded by
    /// [`REFUSAL_RESENDS`]).
    refusal_resends: u32,
    last_refusal: Option<SecurityError>,
    log: SessionLog,
}

/// How often a device resends an unacknowledged Error that ends the session
/// before it disconnects anyway (protocol §5.1): a phone that went silent
/// must not keep the unit busy.
pub const REFUSAL_RESENDS: u32 = 3;

impl DeviceConnection {
    /// New connection at a negotiated ATT MTU.
    pub fn new(identity: DeviceIdentity, mtu: usize) -> Result<Self, FrameError> {
        Ok(Self {
            link: Link::new(mtu)?,
            handshake: DeviceHandshake::new(identity),
            session: None,
            close_after_flush: false,
            refusal_resends: 0,
            last_refusal: None,
            log: SessionLog::default(),
        })
    }

    /// What this session did so far (for [`RequestContext::session`]).
    pub fn session_log(&self) -> &SessionLog {
        &self.log
    }

    /// The verified grant once the handshake is complete.
    pub fn grant(&self) -> Option<&AccessGrant> {
        self.session.as_ref().map(|s| &s.grant)
    }

    /// Whether the handshake completed.
    pub fn is_authenticated(&self) -> bool {
        self.session.is_some()
    }

    /// The last security refusal (for logs and tests).
    pub fn last_refusal(&self) -> Option<&SecurityError> {
        self.last_refusal.as_ref()
    }

    /// Whether the device should drop the connection once
    /// [`DeviceConnection::poll_transmit`] has drained (after a security refusal).
    pub fn should_disconnect(&self) -> bool {
        self.close_after_flush
    }

    /// Whether the device should drop the connection now: after a security
    /// refusal, once the phone acknowledged the Error, or once it was resent
    /// [`REFUSAL_RESENDS`] times without an acknowledgement.
    pub fn should_close(&self) -> bool {
        self.close_after_flush && (self.link.is_idle() || self.refusal_resends >= REFUSAL_RESENDS)
    }

    /// The flow-control endpoint (stats, idle state).
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// Next ATT payload to notify.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.link.poll_transmit()
    }

    /// Whether notified frames await acknowledgement (arm a retransmit timer).
    pub fn has_unacked(&self) -> bool {
        self.link.has_unacked()
    }

    /// Retransmission timer fired.
    pub fn on_timeout(&mut self) {
        if self.close_after_flush {
            self.refusal_resends = self.refusal_resends.saturating_add(1);
        }
        self.link.on_timeout();
    }

    /// Data bytes per read-back chunk at this MTU.
    pub fn data_chunk_len(&self) -> usize {
        chunk_data_len(self.link.fragmenter().mtu())
    }

    /// Seal (once authenticated) and queue a response.
    pub fn respond(&mut self, msg: &Message) {
        match self.session.as_mut() {
            Some(s) => {
                self.log.note(msg);
                let rec = s.cipher.seal_message(msg);
                self.link.send_message(&rec);
            }
            None => self.link.send_message(&msg.encode()),
        }
    }

    fn refuse(&mut self, err: SecurityError, ref_type: u8) {
        tracing::warn!(error = %err, "device refused session");
        self.respond(&Message::error(err.code(), ref_type, err.to_string()));
        self.close_after_flush = true;
        self.last_refusal = Some(err);
    }

    /// Consume one written ATT payload; returns authorized requests for the
    /// firmware. Refusals are answered here (Error message) and never reach the
    /// firmware.
    pub fn on_frame(
        &mut self,
        att_payload: &[u8],
        now: u64,
        revocations: &mut DeviceRevocations,
        rng: &mut impl CryptoRngCore,
    ) -> Vec<Request> {
        let record = match self.link.handle_frame(att_payload) {
            Ok(Some(r)) => r,
            Ok(None) => return Vec::new(),
            Err(e) => {
                tracing::debug!(error = %e, "dropped frame");
                return Vec::new();
            }
        };
        if self.close_after_flush {
            // The session is over: the link still takes the phone's ACK of
            // the Error (above), every message is ignored.
            tracing::debug!("message after a refusal ignored");
            return Vec::new();
        }
        self.on_record(&record, now, revocations, rng)
            .into_iter()
            .collect()
    }

    /// A phone handed over a signed revocation list (plaintext before the
    /// Hello, or sealed): apply it when it verifies and is newer, and say
    /// where the device stands. A bad list is answered with an Error and
    /// ends nothing.
    fn on_revocation_update(&mut self, list: &[u8], now: u64, revocations: &mut DeviceRevocations) {
        let ty = msg_type::REVOCATION_UPDATE;
        let applied = SignedRevocationList::decode(list)
            .map_err(SecurityError::from)
            .and_then(|l| {
                revocations.apply(
                    &l,
                    self.handshake.serial(),
                    &self.handshake.fleet_public_key(),
                    now,
                )
            });
        match applied {
            Ok(_) => self.respond(&Message::RevocationStatus(RevocationStatus {
                sequence: revocations.sequence(),
                entries: u16::try_from(revocations.entries().len()).unwrap_or(u16::MAX),
            })),
            Err(e) => {
                tracing::info!(error = %e, "revocation list refused");
                self.respond(&Message::error(e.code(), ty, e.to_string()));
            }
        }
    }

    fn on_record(
        &mut self,
        record: &[u8],
        now: u64,
        revocations: &mut DeviceRevocations,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Request> {
        let Some(session) = self.session.as_mut() else {
            return self.on_plaintext(record, now, revocations, rng);
        };
        let plaintext = match session.cipher.open(record) {
            Ok(p) => p,
            Err(e) => {
                self.refuse(e, 0);
                return None;
            }
        };
        let msg = match Message::decode(&plaintext) {
            Ok(m) => m,
            Err(e) => {
                let ty = plaintext.first().copied().unwrap_or(0);
                let code = if matches!(e, crate::DecodeError::UnknownType(_)) {
                    ErrorCode::Unsupported
                } else {
                    ErrorCode::Malformed
                };
                self.respond(&Message::error(code, ty, e.to_string()));
                return None;
            }
        };
        let ty = msg.type_byte();
        let request = match msg {
            Message::DeviceInfoRequest => Request::DeviceInfo,
            Message::ConfigBegin(b) => Request::ConfigBegin(b),
            Message::ConfigChunk(c) => Request::ConfigChunk(c),
            Message::ConfigCommit(c) => Request::ConfigCommit(c),
            Message::ConfigReadBack => Request::ConfigReadBack,
            Message::BindVehicle(b) => Request::BindVehicle(b),
            Message::VehicleTest(t) => Request::VehicleTest(t.test),
            Message::VehicleInfoRequest => Request::VehicleInfo,
            Message::AttestRequest { job_id } => {
                if let Err(e) = self
                    .session
                    .as_ref()
                    .map_or(Ok(()), |s| s.check_job(&job_id))
                {
                    self.respond(&Message::error(e.code(), ty, e.to_string()));
                    self.last_refusal = Some(e);
                    return None;
                }
                Request::Attest
            }
            Message::RevocationUpdate { list } => {
                self.on_revocation_update(&list, now, revocations);
                return None;
            }
            other => {
                self.respond(&Message::error(
                    ErrorCode::Unsupported,
                    ty,
                    format!(
                        "message 0x{:02x} not accepted by the device",
                        other.type_byte()
                    ),
                ));
                return None;
            }
        };
        if let Err(e) = self.authorize(&request, now) {
            tracing::info!(error = %e, "operation refused");
            let fatal = matches!(e, SecurityError::Expired { .. });
            if fatal {
                self.refuse(e, ty);
            } else {
                self.respond(&Message::error(e.code(), ty, e.to_string()));
                self.last_refusal = Some(e);
            }
            return None;
        }
        Some(request)
    }

    fn authorize(&self, request: &Request, now: u64) -> Result<(), SecurityError> {
        let session = self
            .session
            .as_ref()
            .ok_or(SecurityError::Unexpected("not authenticated"))?;
        session.authorize(required_permissions(request), now)?;
        match request {
            Request::ConfigBegin(b) => session.check_job(&b.job_id)?,
            Request::BindVehicle(b) => {
                session.check_job(&b.job_id)?;
                // A grant without a VIN (the provider left it to the
                // technician) leaves the check to the firmware, which
                // binds only to the vehicle's own VIN.
                if !session.grant.fields.vin.is_empty() && b.vin != session.grant.fields.vin {
                    return Err(SecurityError::WrongVehicle {
                        grant: session.grant.fields.vin.clone(),
                        requested: b.vin.clone(),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_plaintext(
        &mut self,
        record: &[u8],
        now: u64,
        revocations: &mut DeviceRevocations,
        rng: &mut impl CryptoRngCore,
    ) -> Option<Request> {
        if record.first() == Some(&SEALED_RECORD_TYPE) {
            self.refuse(
                SecurityError::Unexpected("sealed record before handshake"),
                0,
            );
            return None;
        }
        let msg = match Message::decode(record) {
            Ok(m) => m,
            Err(e) => {
                self.refuse(SecurityError::Malformed(e), 0);
                return None;
            }
        };
        let ty = msg.type_byte();
        match msg {
            Message::RevocationUpdate { list } => {
                self.on_revocation_update(&list, now, revocations);
            }
            Message::Hello(h) => match self.handshake.on_hello(&h, now, &*revocations, rng) {
                Ok(ch) => self.respond(&Message::Challenge(ch)),
                Err(e) => self.refuse(e, ty),
            },
            Message::Finish(f) => match self.handshake.on_finish(&f) {
                Ok((session, ready)) => {
                    tracing::info!(
                        job = %session.grant.fields.job_id,
                        technician = %session.grant.fields.technician_id,
                        "session established"
                    );
                    self.link.send_message(&ready);
                    self.session = Some(session);
                }
                Err(e) => self.refuse(e, ty),
            },
            _ => self.refuse(SecurityError::Unexpected("operation before handshake"), ty),
        }
        None
    }

    /// Convenience: [`DeviceConnection::on_frame`], then answer every request with
    /// `handler` at once.
    pub fn on_frame_with(
        &mut self,
        att_payload: &[u8],
        now: u64,
        revocations: &mut DeviceRevocations,
        rng: &mut impl CryptoRngCore,
        handler: &mut (impl DeviceHandler + ?Sized),
    ) {
        for req in self.on_frame(att_payload, now, revocations, rng) {
            let responses = {
                let Some(grant) = self.grant() else { return };
                let ctx = RequestContext {
                    grant,
                    now,
                    data_chunk_len: self.data_chunk_len(),
                    session: &self.log,
                };
                handler.handle(req, &ctx)
            };
            for r in &responses {
                self.respond(r);
            }
        }
    }
}

/// A configuration stored on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConfig {
    /// Configuration id.
    pub config_id: String,
    /// Content.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`.
    pub sha256: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Staging {
    config_id: String,
    total_len: u32,
    sha256: [u8; 32],
    bytes: Vec<u8>,
}

/// Transactional configuration storage: staged in chunks, verified by hash,
/// committed atomically; the active configuration never changes before a
/// successful commit, and a staged transfer survives disconnects for resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigStore {
    active: Option<StoredConfig>,
    staging: Option<Staging>,
    max_len: u32,
    max_chunk: u16,
}

impl ConfigStore {
    /// Empty store accepting configurations up to `max_len` bytes.
    pub fn new(max_len: u32) -> Self {
        Self {
            active: None,
            staging: None,
            max_len,
            max_chunk: u16::MAX,
        }
    }

    /// The active configuration.
    pub fn active(&self) -> Option<&StoredConfig> {
        self.active.as_ref()
    }

    /// Replace the active configuration directly (factory state in simulations).
    pub fn set_active(&mut self, config_id: &str, bytes: Vec<u8>) {
        self.active = Some(StoredConfig {
            config_id: config_id.to_owned(),
            sha256: Sha256::digest(&bytes).into(),
            bytes,
        });
    }

    /// Bytes staged for an unfinished transfer.
    pub fn staged_len(&self) -> Option<u32> {
        self.staging.as_ref().map(|s| s.bytes.len() as u32)
    }

    /// Drop a staged transfer (e.g. a power cycle in a simulation).
    pub fn discard_staging(&mut self) {
        self.staging = None;
    }

    /// Handle ConfigBegin.
    pub fn begin(&mut self, b: &ConfigBegin) -> Message {
        let ty = msg_type::CONFIG_BEGIN;
        if b.total_len > self.max_len {
            return Message::error(
                ErrorCode::ConfigTooLarge,
                ty,
                format!("{} bytes > {}", b.total_len, self.max_len),
            );
        }
        let resume = match &self.staging {
            Some(s)
                if s.sha256 == b.sha256
                    && s.total_len == b.total_len
                    && s.config_id == b.config_id =>
            {
                s.bytes.len() as u32
            }
            _ => {
                self.staging = Some(Staging {
                    config_id: b.config_id.clone(),
                    total_len: b.total_len,
                    sha256: b.sha256,
                    bytes: Vec::new(),
                });
                0
            }
        };
        tracing::debug!(resume, total = b.total_len, "config begin");
        Message::ConfigBeginAck(ConfigBeginAck {
            resume_offset: resume,
            max_chunk: self.max_chunk,
        })
    }

    /// Handle ConfigChunk: append at the staged length; duplicates of already
    /// staged data are acknowledged without change.
    pub fn chunk(&mut self, c: &ConfigChunk) -> Message {
        let ty = msg_type::CONFIG_CHUNK;
        let Some(s) = self.staging.as_mut() else {
            return Message::error(ErrorCode::ConfigNoTransfer, ty, "no transfer in progress");
        };
        let staged = s.bytes.len() as u64;
        let offset = u64::from(c.offset);
        let end = offset + c.data.len() as u64;
        if end > u64::from(s.total_len) {
            return Message::error(ErrorCode::ConfigBadOffset, ty, "chunk beyond total length");
        }
        if offset == staged {
            s.bytes.extend_from_slice(&c.data);
        } else if end > staged {
            return Message::error(
                ErrorCode::ConfigBadOffset,
                ty,
                format!("chunk at {offset}, staged {staged}"),
            );
        }
        Message::ConfigChunkAck(ConfigChunkAck {
            offset: s.bytes.len() as u32,
        })
    }

    /// Handle ConfigCommit: verify length and hash, then swap atomically. A hash
    /// mismatch discards the staging and leaves the active configuration.
    pub fn commit(&mut self, c: &ConfigCommit) -> Message {
        let ty = msg_type::CONFIG_COMMIT;
        let Some(s) = self.staging.as_ref() else {
            return Message::error(ErrorCode::ConfigNoTransfer, ty, "nothing staged");
        };
        if s.bytes.len() as u32 != s.total_len {
            return Message::error(
                ErrorCode::ConfigBadOffset,
                ty,
                format!("incomplete: {} of {} bytes", s.bytes.len(), s.total_len),
            );
        }
        let digest: [u8; 32] = Sha256::digest(&s.bytes).into();
        if digest != s.sha256 || c.sha256 != s.sha256 {
            self.staging = None;
            return Message::error(
                ErrorCode::ConfigHashMismatch,
                ty,
                "staged data does not match hash",
            );
        }
        let Some(s) = self.staging.take() else {
            return Message::error(ErrorCode::Internal, ty, "staging vanished");
        };
        let committed = ConfigCommitted {
            config_id: s.config_id.clone(),
            sha256: s.sha256,
        };
        self.active = Some(StoredConfig {
            config_id: s.config_id,
            bytes: s.bytes,
            sha256: s.sha256,
        });
        Message::ConfigCommitted(committed)
    }

    /// Handle ConfigReadBack: header plus data messages.
    pub fn read_back(&self, data_chunk_len: usize) -> Vec<Message> {
        let chunk = data_chunk_len.clamp(1, usize::from(u16::MAX));
        let Some(a) = &self.active else {
            return vec![Message::ConfigDataHeader(ConfigDataHeader {
                config_id: String::new(),
                total_len: 0,
                sha256: Sha256::digest([]).into(),
            })];
        };
        let mut out = vec![Message::ConfigDataHeader(ConfigDataHeader {
            config_id: a.config_id.clone(),
            total_len: a.bytes.len() as u32,
            sha256: a.sha256,
        })];
        out.extend(a.bytes.chunks(chunk).enumerate().map(|(i, d)| {
            Message::ConfigData(ConfigData {
                offset: (i * chunk) as u32,
                data: d.to_vec(),
            })
        }));
        out
    }

    /// Answer a configuration request; `None` for other requests.
    pub fn handle(&mut self, request: &Request, ctx: &RequestContext<'_>) -> Option<Vec<Message>> {
        Some(match request {
            Request::ConfigBegin(b) => vec![self.begin(b)],
            Request::ConfigChunk(c) => vec![self.chunk(c)],
            Request::ConfigCommit(c) => vec![self.commit(c)],
            Request::ConfigReadBack => self.read_back(ctx.data_chunk_len),
            _ => return None,
        })
    }
}

/// A configuration in a [`ConfigStoreSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigSnapshot {
    /// Configuration id.
    pub config_id: String,
    /// SHA-256 the configuration is (active) or will be (staged) verified with.
    pub sha256: [u8; 32],
    /// Total length of a staged transfer (the active configuration: its length).
    pub total_len: u32,
    /// Content (staged: the bytes received so far).
    pub bytes: Vec<u8>,
}

/// What a [`ConfigStore`] holds, to keep a simulated unit's flash between
/// processes: the active configuration and an unfinished transfer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigStoreSnapshot {
    /// The committed configuration.
    pub active: Option<ConfigSnapshot>,
    /// The staged, unfinished transfer.
    pub staging: Option<ConfigSnapshot>,
}

/// A [`ConfigStoreSnapshot`] that cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The active configuration's bytes do not match its hash.
    #[error("active configuration {config_id:?}: its bytes do not match its SHA-256")]
    ActiveHashMismatch {
        /// Configuration id.
        config_id: String,
    },
    /// More bytes staged than the transfer announced, or than the store holds.
    #[error("staged configuration {config_id:?}: {staged} bytes staged, but the transfer has {total_len} and the store holds at most {max_len}")]
    StagingTooLong {
        /// Configuration id.
        config_id: String,
        /// Bytes staged.
        staged: usize,
        /// Announced length.
        total_len: u32,
        /// Capacity of the store.
        max_len: u32,
    },
}

impl ConfigStore {
    /// The active configuration and the staged transfer, for [`ConfigStore::restore`].
    pub fn snapshot(&self) -> ConfigStoreSnapshot {
        ConfigStoreSnapshot {
            active: self.active.as_ref().map(|a| ConfigSnapshot {
                config_id: a.config_id.clone(),
                sha256: a.sha256,
                total_len: a.bytes.len() as u32,
                bytes: a.bytes.clone(),
            }),
            staging: self.staging.as_ref().map(|s| ConfigSnapshot {
                config_id: s.config_id.clone(),
                sha256: s.sha256,
                total_len: s.total_len,
                bytes: s.bytes.clone(),
            }),
        }
    }

    /// Replace the active configuration and the staged transfer with a
    /// [`ConfigStore::snapshot`] (the capacity stays this store's). Checked
    /// first: on an error nothing changes.
    pub fn restore(&mut self, snapshot: ConfigStoreSnapshot) -> Result<(), SnapshotError> {
        if let Some(a) = &snapshot.active {
            let digest: [u8; 32] = Sha256::digest(&a.bytes).into();
            if digest != a.sha256 {
                return Err(SnapshotError::ActiveHashMismatch {
                    config_id: a.config_id.clone(),
                });
            }
        }
        if let Some(s) = &snapshot.staging {
            if s.bytes.len() as u64 > u64::from(s.total_len) || s.total_len > self.max_len {
                return Err(SnapshotError::StagingTooLong {
                    config_id: s.config_id.clone(),
                    staged: s.bytes.len(),
                    total_len: s.total_len,
                    max_len: self.max_len,
                });
            }
        }
        self.active = snapshot.active.map(|a| StoredConfig {
            config_id: a.config_id,
            bytes: a.bytes,
            sha256: a.sha256,
        });
        self.staging = snapshot.staging.map(|s| Staging {
            config_id: s.config_id,
            total_len: s.total_len,
            sha256: s.sha256,
            bytes: s.bytes,
        });
        Ok(())
    }
}

/// A minimal, fault-free device: fixed info, a [`ConfigStore`], vehicle binding
/// and scripted test results (default: every test passes). For tests of the
/// protocol and of the core before the full simulator is used.
#[derive(Debug, Clone)]
pub struct BasicDevice {
    /// Reported device info (bound VIN and config id are filled in live).
    pub info: DeviceInfo,
    /// Configuration storage.
    pub config: ConfigStore,
    /// Results returned per test (missing: pass with no value).
    pub test_results: HashMap<VehicleTestId, VehicleTestResult>,
    /// VIN and model the vehicle reports (empty: none).
    pub vehicle: VehicleInfo,
    /// The device's own signing key (attestations).
    pub device_key: SigningKey,
    /// Attestations signed so far (the counter of the next one is this + 1).
    pub attestations: u64,
    /// Requests seen, in order.
    pub log: Vec<Request>,
}

impl BasicDevice {
    /// Device with `serial` and default versions, 12.6 V battery, 64 KiB config space.
    pub fn new(serial: &str) -> Self {
        Self {
            info: DeviceInfo {
                serial: serial.to_owned(),
                firmware_version: "1.0.0".into(),
                hardware_version: "CBX-2".into(),
                battery_millivolts: 12_600,
                bound_vin: String::new(),
                active_config_id: String::new(),
            },
            config: ConfigStore::new(256 * 1024),
            test_results: HashMap::new(),
            vehicle: VehicleInfo {
                vin: String::new(),
                model: String::new(),
            },
            device_key: crate::security::simulated_device_key(serial),
            attestations: 0,
            log: Vec::new(),
        }
    }
}

impl DeviceHandler for BasicDevice {
    fn handle(&mut self, request: Request, ctx: &RequestContext<'_>) -> Vec<Message> {
        self.log.push(request.clone());
        if let Some(out) = self.config.handle(&request, ctx) {
            return out;
        }
        match request {
            Request::DeviceInfo => {
                let mut info = self.info.clone();
                info.active_config_id = self
                    .config
                    .active()
                    .map(|a| a.config_id.clone())
                    .unwrap_or_default();
                vec![Message::DeviceInfo(info)]
            }
            Request::BindVehicle(b) => {
                if let Some(refusal) = check_bind_against_vehicle(&b, &self.vehicle.vin) {
                    return vec![refusal];
                }
                self.info.bound_vin = b.vin.clone();
                vec![Message::VehicleBound { vin: b.vin }]
            }
            Request::VehicleInfo => vec![Message::VehicleInfo(self.vehicle.clone())],
            Request::Attest => {
                self.attestations += 1;
                vec![attest(
                    &self.device_key,
                    &self.info.serial,
                    self.attestations,
                    ctx,
                    AttestedState {
                        bound_vin: &self.info.bound_vin,
                        vehicle_vin: &self.vehicle.vin,
                        vehicle_model: &self.vehicle.model,
                        active_config: self.config.active(),
                    },
                )]
            }
            Request::VehicleTest(t) => {
                vec![Message::VehicleTestResult(
                    self.test_results
                        .get(&t)
                        .copied()
                        .unwrap_or(VehicleTestResult {
                            test: t,
                            passed: true,
                            unit: Unit::None,
                            value: 0,
                            hint: HintCode::None,
                        }),
                )]
            }
            _ => vec![Message::error(ErrorCode::Internal, 0, "unhandled")],
        }
    }
}

/// Run a device connection over a channel [`DevicePort`] until the phone
/// disconnects or the device drops the session. The handler is locked only
/// while it handles one request, so tests and simulators can inspect or script
/// it between requests. `now` gives device time (unix seconds);
/// retransmission uses tokio time.
pub async fn serve(
    mut port: DevicePort,
    mut conn: DeviceConnection,
    handler: &SharedHandler,
    now: &(dyn Fn() -> u64 + Send + Sync),
    revocations: &std::sync::Mutex<DeviceRevocations>,
) -> Result<(), TransportError> {
    let mut rng = rand_core::OsRng;
    let retransmit = std::time::Duration::from_millis(300);
    loop {
        while let Some(frame) = conn.poll_transmit() {
            port.notify(frame).await?;
        }
        if conn.should_close() {
            tracing::debug!("device closing connection after refusal");
            return Ok(());
        }
        let incoming = if conn.has_unacked() {
            match tokio::time::timeout(retransmit, port.next_write()).await {
                Ok(v) => v,
                Err(_) => {
                    conn.on_timeout();
                    continue;
                }
            }
        } else {
            port.next_write().await
        };
        let Some(bytes) = incoming else {
            return Ok(());
        };
        let t = now();
        let requests = {
            let mut revocations = revocations.lock().unwrap_or_else(|p| p.into_inner());
            conn.on_frame(&bytes, t, &mut revocations, &mut rng)
        };
        for req in requests {
            let responses = {
                let Some(grant) = conn.grant() else { break };
                let ctx = RequestContext {
                    grant,
                    now: t,
                    data_chunk_len: conn.data_chunk_len(),
                    session: &conn.log,
                };
                handler.lock().await.handle(req, &ctx)
            };
            for r in &responses {
                conn.respond(r);
            }
        }
    }
}
