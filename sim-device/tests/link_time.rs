//! The link model against ble's link-time formula, on the paused tokio clock:
//! a 4 KiB configuration transfer takes between 1.0x and 1.2x the formula's
//! minimum for each reference profile.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use smartcontrol_sim_device::{LinkModel, VehicleTiming};

async fn measure_config(link: LinkModel, len: usize) -> (f64, f64) {
    let (w, dev) = world(link, VehicleTiming::instant());
    let mut c = session(&w, &grant()).await;
    c.device_info().await.unwrap();
    let cfg = config_bytes(len, 9);
    let start = dev.align_to_connection_event().await;
    let t0 = tokio::time::Instant::now();
    c.write_config("measured", &cfg, &mut |_| {}).await.unwrap();
    let measured = t0.elapsed().as_secs_f64();
    let _ = start;
    let min = link.profile.min_config_transfer_time(len).as_secs_f64();
    (measured, min)
}

#[tokio::test(start_paused = true)]
async fn config_4k_within_1_2x_of_the_formula_for_every_profile() {
    for link in [LinkModel::fast(), LinkModel::typical(), LinkModel::legacy()] {
        let (measured, min) = measure_config(link, 4096).await;
        let ratio = measured / min;
        eprintln!(
            "{}: measured {:.1} ms, minimum {:.1} ms, ratio {ratio:.3}",
            link.describe(),
            measured * 1e3,
            min * 1e3
        );
        assert!(
            (1.0..=1.2).contains(&ratio),
            "{}: ratio {ratio}",
            link.describe()
        );
    }
}
