//! The command line: global options and subcommands (clap derive).

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use smartcontrol_core::JobView;

/// Default cloud when neither `--server` nor `SMARTCONTROL_SERVER` is given.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// SmartControl on the desktop: take, work and report installation jobs,
/// offline first.
#[derive(Debug, Parser)]
#[command(name = "smartcontrol", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 ok, 1 operational failure (offline, server error, storage), \
2 bad input / refused by the job rules / not found, 3 not logged in / session expired / login failed."
)]
pub struct Cli {
    /// Directory of the local database [default: $XDG_DATA_HOME/smartcontrol or ~/.local/share/smartcontrol]
    #[arg(long, global = true, env = "SMARTCONTROL_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Base URL of the fleet cloud
    #[arg(long, global = true, env = "SMARTCONTROL_SERVER", value_name = "URL", default_value = DEFAULT_SERVER)]
    pub server: String,

    /// Print machine-readable JSON on stdout instead of text (errors too: {"error": {...}})
    #[arg(long, global = true)]
    pub json: bool,

    /// Action commands: only queue the action, do not try to sync it now
    #[arg(long, global = true)]
    pub offline: bool,

    /// Log to stderr: -v info, -vv debug, -vvv trace (default warn; RUST_LOG applies without -v)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in as a technician (the one step that needs the network)
    Login(LoginArgs),
    /// Log out and erase the technician's data on this device
    Logout {
        /// Log out even though actions still wait for sync (they are lost)
        #[arg(long)]
        discard_unsynced: bool,
    },
    /// Push queued actions to the cloud and pull job changes
    Sync,
    /// List jobs from local state (queued actions included)
    Jobs(JobsArgs),
    /// One job in detail
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
    /// "Assign Job to Me": take an available job (ASSIGNED -> RUNNING)
    Claim(JobIdArg),
    /// Give your running job back to the company (RUNNING -> ASSIGNED)
    Withdraw(JobIdArg),
    /// Take over a colleague's running job
    TakeOver(JobIdArg),
    /// Start the installation on your running job
    Start(JobIdArg),
    /// Complete your running job as succeeded or failed
    Complete(CompleteArgs),
    /// Work the cloud refused: list, dismiss or re-submit
    Conflicts {
        #[command(subcommand)]
        command: Option<ConflictCommand>,
    },
    /// Who is logged in and where sync stands
    Status,
    /// Work at the vehicle: run a job's on-vehicle workflow against its CloudBoxx
    Vehicle {
        #[command(subcommand)]
        command: VehicleCommand,
    },
    /// Run the whole offline-first scenario against an in-process simulated cloud
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Email of the technician account
    #[arg(long)]
    pub email: String,
    /// Password (read from stdin when omitted)
    #[arg(long)]
    pub password: Option<String>,
    /// Current 6-digit code of the authenticator app (accounts with two-factor authentication)
    #[arg(long, value_name = "CODE")]
    pub totp: Option<String>,
}

/// Which job list `jobs` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ViewArg {
    /// ASSIGNED jobs of your company that no one works on
    Available,
    /// Your RUNNING jobs
    Mine,
    /// Jobs you completed (SUCCEEDED or FAILED)
    Done,
    /// Colleagues' RUNNING jobs (candidates for take-over)
    Colleagues,
    /// Every job on this device
    #[default]
    All,
}

impl From<ViewArg> for JobView {
    fn from(v: ViewArg) -> JobView {
        match v {
            ViewArg::Available => JobView::Available,
            ViewArg::Mine => JobView::Mine,
            ViewArg::Done => JobView::Done,
            ViewArg::Colleagues => JobView::Colleagues,
            ViewArg::All => JobView::All,
        }
    }
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Which list
    #[arg(value_enum, default_value_t = ViewArg::All)]
    pub view: ViewArg,
    /// Case-insensitive substring of license plate, VIN, name, provider or fleet
    #[arg(long)]
    pub search: Option<String>,
    /// Provider id or name (exact, case-insensitive)
    #[arg(long)]
    pub provider: Option<String>,
    /// Fleet id or name (exact, case-insensitive)
    #[arg(long)]
    pub fleet: Option<String>,
    /// Page size
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Jobs to skip
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Every specification of a job, its local status, required work, queued actions and vehicle tests
    Show(JobIdArg),
    /// Enter what the provider left open on your running job (VIN, plate, model, central lock
    /// type, CloudBoxx serial, master data), typed or as the raw text of a scan
    #[command(
        after_help = "Only specifications the provider left empty can be entered; an entry of \
yours can be corrected by entering it again. Values are checked before they are queued: VINs per \
ISO 3779 (17 characters, no I/O/Q, the check digit where the region requires it), models from the \
vehicle catalogue (synced), lock types the model supports, the check code of a CloudBoxx label. \
The entry is queued like any other action (it works offline). A CloudBoxx serial entered here \
needs one sync while online before the unit can be opened: the cloud checks that the unit belongs \
to the job's fleet and issues the access grant."
    )]
    Enter(EnterArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("vin_source").args(["vin", "scan_vin"])))]
#[command(group(ArgGroup::new("serial_source").args(["serial", "scan_label"])))]
pub struct EnterArgs {
    /// Job id (a unique prefix of at least 4 characters works too)
    pub id: String,
    /// The VIN as typed from the VIN plate
    #[arg(long)]
    pub vin: Option<String>,
    /// The raw text of a scanned VIN barcode (Code 39 or Data Matrix)
    #[arg(long, value_name = "RAW")]
    pub scan_vin: Option<String>,
    /// License plate
    #[arg(long)]
    pub plate: Option<String>,
    /// Vehicle model: catalogue id or name (e.g. vw-golf8)
    #[arg(long)]
    pub model: Option<String>,
    /// Central lock connection type: SKM, CAN, ANALOG or KEYLESS_BYPASS
    #[arg(long)]
    pub lock: Option<String>,
    /// CloudBoxx serial as typed from the unit's label
    #[arg(long)]
    pub serial: Option<String>,
    /// The raw text of the scanned CloudBoxx label QR code (CBX1/SERIAL/HARDWARE/CHECK)
    #[arg(long, value_name = "RAW")]
    pub scan_label: Option<String>,
    /// A master data entry the provider did not set (repeatable)
    #[arg(long = "master", value_name = "KEY=VALUE")]
    pub master: Vec<String>,
}

#[derive(Debug, Args)]
pub struct JobIdArg {
    /// Job id (as printed by `jobs`; a unique prefix of at least 4 characters works too)
    pub id: String,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("outcome").required(true).args(["succeeded", "failed"])))]
pub struct CompleteArgs {
    /// Job id
    pub id: String,
    /// The job succeeded
    #[arg(long)]
    pub succeeded: bool,
    /// The job failed (requires --comment)
    #[arg(long, requires = "comment")]
    pub failed: bool,
    /// Notes for a succeeded job
    #[arg(long, conflicts_with = "failed")]
    pub notes: Option<String>,
    /// What went wrong (required with --failed)
    #[arg(long, conflicts_with = "succeeded")]
    pub comment: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConflictCommand {
    /// List open conflicts (the default)
    List,
    /// Dismiss a conflict: you have seen the refused work
    Dismiss {
        /// Conflict id (from `conflicts`)
        id: i64,
    },
    /// Queue the refused action again against the job as it is now
    Resubmit {
        /// Conflict id (from `conflicts`)
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Kept for compatibility: the demo never sleeps artificially
    #[arg(long)]
    pub fast: bool,
    /// Keep the demo's temporary directories (cloud database, both devices) and print where they are
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Subcommand)]
pub enum VehicleCommand {
    /// Connect to the job's CloudBoxx, authenticate with the job's access grant, identify it,
    /// bind it to the vehicle (installation), apply and verify the job's configuration and run
    /// the vehicle tests. Works offline with the grant downloaded when the job was claimed and
    /// synced; the results are stored for the job's report. Completing the job stays your call.
    #[command(
        after_help = "The device serial comes from the job's access grant, so none is \
needed. Devices: `--device tcp://HOST:PORT` reaches CloudBoxxes served by a `sim-device` binary \
(`sim-device --listen HOST:PORT`); `--device sim:SCENARIO.toml` simulates the scenario's \
CloudBoxxes in this process; `--device ble[:ADAPTER]` reaches a real CloudBoxx through the \
btleplug driver on a Bluetooth adapter.\n\nExit codes: 0 the workflow ran (tests may have failed: \
see the report), 1 device failure / refused by the device / configuration mismatch, 2 no vehicle \
access (not your running job, no or expired grant) / wrong device / wrong vehicle (the unit's VIN \
is not the job's) / bad input, 3 not logged in or account removed."
    )]
    Run(VehicleRunArgs),
}

#[derive(Debug, Args)]
pub struct VehicleRunArgs {
    /// Job id (a unique prefix of at least 4 characters works too)
    pub id: String,
    /// Where the CloudBoxx is reached: tcp://HOST:PORT (a sim-device server), sim:SCENARIO.toml (simulated CloudBoxxes in this process) or ble[:ADAPTER] (a real CloudBoxx over the Bluetooth adapter, e.g. ble:hci0; alias bluez[:ADAPTER])
    #[arg(long, value_name = "ADDR")]
    pub device: String,
    /// Tests to run, comma-separated (default: all). Names: central_lock_lock,
    /// central_lock_unlock, immobilizer_disable_driving, immobilizer_enable_driving,
    /// ignition_state, mileage, fuel_or_charge_level, position_fix, doors_closed,
    /// key_holder_present
    #[arg(long, value_delimiter = ',', value_name = "TESTS")]
    pub tests: Vec<String>,
    /// Reconnections after a dropped link before giving up (the configuration transfer resumes)
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub reconnects: u32,
    /// With --device sim:SCENARIO.toml: forget what the simulated units kept from earlier runs (configuration, binding, spent faults, ...) and start from the scenario file again
    #[arg(long)]
    pub reset_device_state: bool,
}
