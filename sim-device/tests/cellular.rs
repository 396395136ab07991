//! The unit's own cellular link: it fetches the fleet's signed revocation
//! list while covered, refuses lists that do not verify, and a revoked
//! grant stops opening it with no phone involved.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use smartcontrol_ble::security::{
    RevocationListFields, RevocationUpdateOutcome, RevokedGrant, SignedRevocationList,
};
use smartcontrol_ble::ErrorCode;
use smartcontrol_sim_device::{
    CellularConfig, CellularError, LinkModel, SimDevice, SimWorld, VehicleTiming,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn list(serial: &str, sequence: u64, ids: &[[u8; 16]]) -> SignedRevocationList {
    SignedRevocationList::sign(
        RevocationListFields {
            device_serial: serial.into(),
            sequence,
            issued_at: NOW,
            entries: ids
                .iter()
                .map(|id| RevokedGrant {
                    grant_id: *id,
                    not_after: NOW + 3600,
                })
                .collect(),
        },
        &fleet(),
    )
    .unwrap()
}

/// A minimal fleet cloud: answers every request with the list in `body`
/// (as sim-cloud's `GET /api/v1/devices/{serial}/revocation-list` does) and
/// counts the requests.
async fn fake_cloud(body: Arc<Mutex<String>>, hits: Arc<Mutex<Vec<String>>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let body = body.lock().unwrap().clone();
            let hits = hits.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                hits.lock()
                    .unwrap()
                    .push(req.lines().next().unwrap_or_default().to_owned());
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

fn envelope(l: &SignedRevocationList) -> String {
    format!(
        r#"{{"device_serial":"{}","sequence":{},"list":"{}"}}"#,
        l.fields.device_serial,
        l.fields.sequence,
        l.to_hex()
    )
}

#[tokio::test]
async fn a_covered_unit_learns_revocations_over_its_own_link() {
    let body = Arc::new(Mutex::new(envelope(&list(SERIAL, 1, &[[0x22; 16]]))));
    let hits = Arc::new(Mutex::new(Vec::new()));
    let url = fake_cloud(body.clone(), hits.clone()).await;
    let mut cfg = config(LinkModel::ideal(247), VehicleTiming::instant());
    cfg.cellular = Some(CellularConfig {
        cloud_url: url,
        up: false,
        poll_interval: Duration::from_millis(50),
    });
    let dev = SimDevice::new(cfg);
    let w = SimWorld::new();
    w.add(dev.clone());

    // In the garage: no coverage, nothing learned, the grant still works.
    assert!(matches!(
        dev.fetch_revocations().await,
        Err(CellularError::NoCoverage)
    ));
    session(&w, &grant()).await.close().await.unwrap();

    // Out in the open: the poller fetches and applies the list by itself.
    dev.set_cellular_up(true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !dev.is_revoked(&[0x22; 16]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no poll applied the list"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(hits.lock().unwrap()[0]
        .starts_with(&format!("GET /api/v1/devices/{SERIAL}/revocation-list")));
    let ch = smartcontrol_ble::transport::BleConnector::connect(&w, SERIAL)
        .await
        .unwrap();
    let err =
        smartcontrol_ble::client::Connection::handshake(ch, &grant(), JOB, &phone(), client())
            .await
            .unwrap_err();
    assert_eq!(err.device_code(), Some(ErrorCode::Revoked), "{err}");

    // An older list changes nothing; a list for another unit or signed by
    // another key is refused.
    *body.lock().unwrap() = envelope(&list(SERIAL, 1, &[]));
    assert_eq!(
        dev.fetch_revocations().await.unwrap(),
        RevocationUpdateOutcome::NotNewer
    );
    *body.lock().unwrap() = envelope(&list("CBX-OTHER", 9, &[]));
    assert!(matches!(
        dev.fetch_revocations().await,
        Err(CellularError::Refused(_))
    ));
    let mut forged = list(SERIAL, 9, &[]);
    forged.signature[5] ^= 0x40;
    *body.lock().unwrap() = envelope(&forged);
    assert!(matches!(
        dev.fetch_revocations().await,
        Err(CellularError::Refused(_))
    ));
    assert!(
        dev.is_revoked(&[0x22; 16]),
        "no refused list undid the revocation"
    );
    *body.lock().unwrap() = "not json".into();
    assert!(matches!(
        dev.fetch_revocations().await,
        Err(CellularError::Malformed(_))
    ));
}
