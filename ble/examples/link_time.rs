//! Print the link-time formula's minimum for 4 KiB and 64 KiB configuration
//! transfers at the three reference link profiles.
//!
//! `cargo run -p smartcontrol-ble --example link_time`

use smartcontrol_ble::linktime::LinkProfile;

#[allow(clippy::print_stdout)]
fn main() {
    for (name, p) in [
        (
            "2M PHY, DLE 251, MTU 247, 15 ms, 10 pkt/event",
            LinkProfile::fast(),
        ),
        (
            "1M PHY, DLE 251, MTU 185, 15 ms, 5 pkt/event",
            LinkProfile::typical(),
        ),
        (
            "1M PHY, LL 27, MTU 23, 30 ms, 1 pkt/event",
            LinkProfile::legacy(),
        ),
    ] {
        println!(
            "{name}: pair {:.0} us, {} pairs/event, chunk {} B",
            p.pair_us(),
            p.pairs_per_event(),
            smartcontrol_ble::message::chunk_data_len(p.att_mtu)
        );
        for size in [4096usize, 65536] {
            let msgs = p.config_transfer_messages(size);
            let pdus: usize = msgs.iter().map(|m| p.pdus_for_message(*m)).sum();
            let t = p.min_config_transfer_time(size);
            println!(
                "  {size:>6} B: {} messages, {pdus} LL PDUs, min {:.1} ms ({:.1} kB/s)",
                msgs.len(),
                t.as_secs_f64() * 1e3,
                size as f64 / t.as_secs_f64() / 1e3
            );
        }
    }
}
