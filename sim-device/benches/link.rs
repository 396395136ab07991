//! Link-time benchmark on the virtual clock: a 4 KiB and a 64 KiB
//! configuration transfer and a whole on-vehicle job (handshake, device info,
//! bind, 4 KiB configuration, read-back, all ten vehicle tests) for the three
//! reference link profiles, each beside ble's link-time formula minimum.
//!
//! `cargo bench -p smartcontrol-sim-device --bench link` (deterministic:
//! tokio's paused clock, vehicle delays off so only the link is measured).

use std::sync::Arc;
use std::time::Duration;

use smartcontrol_ble::client::{ClientConfig, Connection};
use smartcontrol_ble::linktime::LinkProfile;
use smartcontrol_ble::message::{
    chunk_data_len, BindVehicle, Challenge, ConfigDataHeader, DeviceInfo, Hello, Message,
    SessionReady, VehicleTest, VehicleTestId, VehicleTestResult, CHUNK_MESSAGE_OVERHEAD,
    PROTOCOL_VERSION,
};
use smartcontrol_ble::security::{
    AccessGrant, GrantFields, Permissions, PhoneKey, RECORD_OVERHEAD,
};
use smartcontrol_ble::transport::BleConnector;
use smartcontrol_ble::{HintCode, Unit};
use smartcontrol_sim_device::keys::demo_fleet_signing_key;
use smartcontrol_sim_device::{
    LinkModel, SimDevice, SimDeviceConfig, SimWorld, VehicleState, VehicleTiming,
};

const NOW: u64 = 1_750_000_000;
const SERIAL: &str = "CBX-000123";
const VIN: &str = "WVWZZZ1JZXW000001";
const JOB: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
const CONFIG_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000c0f1";

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn phone() -> PhoneKey {
    PhoneKey::from_seed(&[9u8; 32])
}

fn grant() -> BenchResult<AccessGrant> {
    Ok(AccessGrant::sign(
        GrantFields {
            grant_id: [0x42; 16],
            device_serial: SERIAL.into(),
            vin: VIN.into(),
            job_id: JOB.into(),
            technician_id: "0190a1b2-c3d4-7e5f-8a9b-0000000000aa".into(),
            phone_public_key: phone().public_key(),
            permissions: Permissions::ALL,
            not_before: NOW - 600,
            not_after: NOW + 3600,
        },
        &demo_fleet_signing_key(),
    )?)
}

fn world(link: LinkModel) -> (SimWorld, SimDevice) {
    let mut c = SimDeviceConfig::new(SERIAL, demo_fleet_signing_key().verifying_key());
    c.vehicle = VehicleState {
        vin: VIN.into(),
        ..VehicleState::default()
    };
    c.timing = VehicleTiming::instant();
    c.link = link;
    c.clock = Some(Arc::new(|| NOW));
    let dev = SimDevice::new(c);
    let w = SimWorld::new();
    w.add(dev.clone());
    (w, dev)
}

fn config(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

async fn connect(w: &SimWorld) -> BenchResult<Connection> {
    let ch = w.connect(SERIAL).await?;
    Ok(Connection::handshake(ch, &grant()?, JOB, &phone(), ClientConfig::default()).await?)
}

async fn measure_config(link: LinkModel, len: usize) -> BenchResult<Duration> {
    let (w, dev) = world(link);
    let mut c = connect(&w).await?;
    c.device_info().await?;
    let cfg = config(len);
    dev.align_to_connection_event().await;
    let t0 = tokio::time::Instant::now();
    c.write_config(CONFIG_ID, &cfg, &mut |_| {}).await?;
    Ok(t0.elapsed())
}

async fn measure_job(link: LinkModel) -> BenchResult<Duration> {
    let (w, _dev) = world(link);
    let t0 = tokio::time::Instant::now();
    let mut c = connect(&w).await?;
    c.device_info().await?;
    c.bind_vehicle(VIN).await?;
    let cfg = config(4096);
    c.write_config(CONFIG_ID, &cfg, &mut |_| {}).await?;
    let back = c.read_config().await?;
    if back.bytes != cfg {
        return Err("read-back differs".into());
    }
    for t in VehicleTestId::ALL {
        c.run_test(t).await?;
    }
    Ok(t0.elapsed())
}

fn sealed(m: &Message) -> usize {
    m.encode().len() + RECORD_OVERHEAD
}

/// Sealed/plain message lengths of the whole job, as exchanges
/// `(request, responses)`; the configuration transfer is separate.
struct JobMessages {
    before_config: Vec<(usize, usize)>,
    read_back: (usize, Vec<usize>),
    after: Vec<(usize, usize)>,
}

/// The job's minimum on the connection-event grid: every response starts at
/// the first connection event after its request ends (not a whole interval
/// later, as the additive sum of `min_exchange_time` assumes), every request
/// at the first event after the previous response's, streams use the
/// formula's `messages_time`. A lower bound for any schedule that answers in
/// the next event.
fn job_minimum_on_grid(p: &LinkProfile, m: &JobMessages) -> Duration {
    let step = p.interval.as_nanos();
    let anchor = |t: Duration| Duration::from_nanos((t.as_nanos().div_ceil(step) * step) as u64);
    let mut t = Duration::ZERO;
    // The phone's request goes out in the first event after the previous
    // response's (that event closed: spec §12, the MD bits), the response
    // in the first event after the request's.
    let exchange = |t: Duration, req: usize, resp: &[usize]| {
        anchor(anchor(t) + p.messages_time(&[req])) + p.messages_time(resp)
    };
    for (req, resp) in &m.before_config {
        t = exchange(t, *req, &[*resp]);
    }
    // Configuration: Begin → BeginAck, chunks + Commit → Committed.
    let msgs = p.config_transfer_messages(4096);
    let (begin, rest) = msgs
        .split_first()
        .map(|(b, r)| (*b, r.to_vec()))
        .unwrap_or((0, vec![]));
    t = exchange(t, begin, &[1 + 4 + 2 + RECORD_OVERHEAD]);
    t = anchor(anchor(t) + p.messages_time(&rest))
        + p.messages_time(&[1 + 1 + 36 + 32 + RECORD_OVERHEAD]);
    t = exchange(t, m.read_back.0, &m.read_back.1);
    for (req, resp) in &m.after {
        t = exchange(t, *req, &[*resp]);
    }
    t
}

/// The formula's minimum for the whole job (spec §12: an exchange per
/// request/response, the configuration transfer, the read-back stream), and
/// the same on the event grid.
fn job_minimum(p: &LinkProfile) -> BenchResult<(Duration, Duration)> {
    let g = grant()?;
    let hello = Message::Hello(Hello {
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        job_id: JOB.into(),
        grant: g.encode(),
    });
    let challenge = Message::Challenge(Challenge {
        version: PROTOCOL_VERSION,
        serial: SERIAL.into(),
        nonce: [0; 32],
        device_ephemeral: [0; 32],
    });
    let finish = Message::Finish(smartcontrol_ble::message::Finish {
        phone_ephemeral: [0; 32],
        signature: [0; 64],
    });
    let ready = Message::SessionReady(SessionReady {
        permissions: 7,
        not_after: NOW,
    });
    let info = Message::DeviceInfo(DeviceInfo {
        serial: SERIAL.into(),
        firmware_version: "2.4.1".into(),
        hardware_version: "CBX-2".into(),
        battery_millivolts: 12_600,
        bound_vin: String::new(),
        active_config_id: String::new(),
    });
    let mut m = JobMessages {
        before_config: vec![
            (hello.encode().len(), challenge.encode().len()),
            (finish.encode().len(), sealed(&ready)),
            (sealed(&Message::DeviceInfoRequest), sealed(&info)),
            (
                sealed(&Message::BindVehicle(BindVehicle {
                    job_id: JOB.into(),
                    vin: VIN.into(),
                })),
                sealed(&Message::VehicleBound { vin: VIN.into() }),
            ),
        ],
        read_back: (sealed(&Message::ConfigReadBack), Vec::new()),
        after: Vec::new(),
    };
    let mut t = p.min_exchange_time(hello.encode().len(), challenge.encode().len())
        + p.min_exchange_time(finish.encode().len(), sealed(&ready))
        + p.min_exchange_time(sealed(&Message::DeviceInfoRequest), sealed(&info))
        + p.min_exchange_time(
            sealed(&Message::BindVehicle(BindVehicle {
                job_id: JOB.into(),
                vin: VIN.into(),
            })),
            sealed(&Message::VehicleBound { vin: VIN.into() }),
        )
        + p.min_config_transfer_time(4096);
    // Read-back: request, one interval, header + data stream.
    let mut back = vec![sealed(&Message::ConfigDataHeader(ConfigDataHeader {
        config_id: CONFIG_ID.into(),
        total_len: 4096,
        sha256: [0; 32],
    }))];
    let chunk = chunk_data_len(p.att_mtu);
    let mut left = 4096usize;
    while left > 0 {
        let n = left.min(chunk);
        back.push(CHUNK_MESSAGE_OVERHEAD + n + RECORD_OVERHEAD);
        left -= n;
    }
    t += p.messages_time(&[sealed(&Message::ConfigReadBack)]) + p.interval + p.messages_time(&back);
    m.read_back.1 = back;
    for test in VehicleTestId::ALL {
        let req = sealed(&Message::VehicleTest(VehicleTest { test }));
        let resp = sealed(&Message::VehicleTestResult(VehicleTestResult {
            test,
            passed: true,
            unit: Unit::Kilometers,
            value: 12_345,
            hint: HintCode::None,
        }));
        t += p.min_exchange_time(req, resp);
        m.after.push((req, resp));
    }
    // Spec §12: the phone's next request waits for the event after the
    // previous response's, one interval between consecutive exchanges
    // (handshake ×2, device info, bind, configuration, read-back, tests).
    let exchanges = 4 + 1 + 1 + VehicleTestId::ALL.len();
    t += p.interval * u32::try_from(exchanges - 1)?;
    Ok((t, job_minimum_on_grid(p, &m)))
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v >= 1000.0 {
        format!("{:.2} s", v / 1e3)
    } else {
        format!("{v:.1} ms")
    }
}

#[allow(clippy::print_stdout)]
async fn run() -> BenchResult<()> {
    println!("| Profile | Operation | Measured | Formula minimum | Ratio |");
    println!("|---|---|---|---|---|");
    let mut notes = Vec::new();
    for link in [LinkModel::fast(), LinkModel::typical(), LinkModel::legacy()] {
        let p = link.profile;
        let rows = [
            (
                "config 4 KiB",
                measure_config(link, 4096).await?,
                p.min_config_transfer_time(4096),
            ),
            (
                "config 64 KiB",
                measure_config(link, 65536).await?,
                p.min_config_transfer_time(65536),
            ),
            ("whole job", measure_job(link).await?, job_minimum(&p)?.1),
        ];
        let (additive, grid) = job_minimum(&p)?;
        notes.push(format!(
            "{}: whole-job minimum on the event grid {}, additive sum of exchanges {}",
            link.describe(),
            ms(grid),
            ms(additive)
        ));
        for (name, measured, min) in rows {
            println!(
                "| {} | {name} | {} | {} | {:.3} |",
                link.describe(),
                ms(measured),
                ms(min),
                measured.as_secs_f64() / min.as_secs_f64()
            );
        }
    }
    println!();
    for n in notes {
        println!("{n}");
    }
    Ok(())
}

fn main() -> BenchResult<()> {
    // `cargo test --benches` passes `--bench`-less args; run either way (fast).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    rt.block_on(run())
}
