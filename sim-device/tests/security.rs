//! Security refusals through the simulated device (ble covers the unit level).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use smartcontrol_ble::client::{ClientError, Connection};
use smartcontrol_ble::security::{AccessGrant, SigningKey};
use smartcontrol_ble::transport::BleConnector;
use smartcontrol_ble::ErrorCode;
use smartcontrol_sim_device::{LinkModel, SimWorld, VehicleTiming};

async fn refusal(w: &SimWorld, g: &AccessGrant) -> ErrorCode {
    let ch = w.connect(SERIAL).await.unwrap();
    match Connection::handshake(ch, g, JOB, &phone(), client()).await {
        Err(ClientError::Device(e)) => e.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn grant_for_another_device_is_refused() {
    let (w, _dev) = world(LinkModel::fast(), VehicleTiming::instant());
    let mut f = fields();
    f.device_serial = "CBX-999999".into();
    assert_eq!(refusal(&w, &grant_with(f)).await, ErrorCode::WrongDevice);
}

#[tokio::test(start_paused = true)]
async fn expired_and_not_yet_valid_grants_are_refused() {
    let (w, _dev) = world(LinkModel::fast(), VehicleTiming::instant());
    let mut f = fields();
    f.not_after = NOW - 1;
    assert_eq!(refusal(&w, &grant_with(f)).await, ErrorCode::GrantExpired);
    let mut f = fields();
    f.not_before = NOW + 60;
    assert_eq!(
        refusal(&w, &grant_with(f)).await,
        ErrorCode::GrantNotYetValid
    );
}

#[tokio::test(start_paused = true)]
async fn revoked_grant_is_refused() {
    let (w, dev) = world(LinkModel::fast(), VehicleTiming::instant());
    dev.revoke(fields().grant_id);
    assert_eq!(refusal(&w, &grant()).await, ErrorCode::Revoked);
}

#[tokio::test(start_paused = true)]
async fn grant_signed_by_another_fleet_is_refused() {
    let (w, _dev) = world(LinkModel::fast(), VehicleTiming::instant());
    let g = AccessGrant::sign(fields(), &SigningKey::from_bytes(&[1u8; 32])).unwrap();
    assert_eq!(refusal(&w, &g).await, ErrorCode::BadSignature);
}

#[tokio::test(start_paused = true)]
async fn device_claiming_another_serial_refuses_the_grant() {
    let (w, dev) = world(LinkModel::fast(), VehicleTiming::instant());
    dev.faults().set_wrong_serial(Some("CBX-000778".into()));
    assert_eq!(refusal(&w, &grant()).await, ErrorCode::WrongDevice);
    dev.faults().set_wrong_serial(None);
    let mut c = session(&w, &grant()).await;
    assert_eq!(c.device_info().await.unwrap().serial, SERIAL);
}
