//! The technician commands on one local data directory.

// Commands print their results to stdout (diagnostics to stderr).
#![allow(clippy::print_stdout)]

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use smartcontrol_core::{
    Account, Conflict, CoreConfig, CoreError, JobQuery, JobView, QueuedAction, RetryPolicy,
    SiteEntry, SmartControl, SyncReport, SyncStatus,
};

use crate::cli::{
    Cli, Command, CompleteArgs, ConflictCommand, EnterArgs, JobCommand, JobsArgs, LoginArgs,
    VehicleCommand,
};
use crate::exit::{self, Failure};
use crate::output;

/// Overall limit of the sync attempted right after an action.
const ACTION_SYNC_TIMEOUT: Duration = Duration::from_secs(8);

/// Runs the parsed command line; `Ok(code)` is the exit code of a command
/// that reported its own outcome.
pub async fn run(args: Cli) -> Result<u8, Failure> {
    let ctx = Ctx {
        json: args.json,
        offline: args.offline,
        data_dir: match &args.data_dir {
            Some(d) => d.clone(),
            None => default_data_dir()?,
        },
        server: args.server.clone(),
    };
    match args.command {
        Command::Demo(demo) => crate::demo::run(demo, args.json).await,
        Command::Login(l) => login(&ctx, l).await,
        Command::Logout { discard_unsynced } => {
            let core = ctx.open(false)?;
            core.logout(discard_unsynced)?;
            if ctx.json {
                output::print_json(&serde_json::json!({ "logged_out": true }))?;
            } else {
                println!("Logged out; the technician's data on this device is erased.");
            }
            Ok(exit::OK)
        }
        Command::Sync => sync(&ctx).await,
        Command::Jobs(j) => jobs(&ctx, &j),
        Command::Job {
            command: JobCommand::Show(id),
        } => {
            let core = ctx.open(false)?;
            let id = resolve_job_id(&core, &id.id)?;
            let detail = core.job(&id)?;
            if ctx.json {
                output::print_json(&detail)?;
            } else {
                output::print_job_detail(&detail)?;
            }
            Ok(exit::OK)
        }
        Command::Job {
            command: JobCommand::Enter(e),
        } => enter(&ctx, e).await,
        Command::Claim(id) => act(&ctx, &id.id, Act::Claim).await,
        Command::Withdraw(id) => act(&ctx, &id.id, Act::Withdraw).await,
        Command::TakeOver(id) => act(&ctx, &id.id, Act::TakeOver).await,
        Command::Start(id) => act(&ctx, &id.id, Act::Start).await,
        Command::Complete(c) => complete(&ctx, c).await,
        Command::Conflicts { command } => conflicts(&ctx, command).await,
        Command::Status => status(&ctx),
        Command::Vehicle {
            command: VehicleCommand::Run(v),
        } => {
            let core = ctx.open(false)?;
            require_login(&core)?;
            let id = resolve_job_id(&core, &v.id)?;
            crate::vehicle::run(&core, ctx.json, &id, &v, &ctx.data_dir).await
        }
    }
}

struct Ctx {
    json: bool,
    offline: bool,
    data_dir: PathBuf,
    server: String,
}

impl Ctx {
    /// Opens the core. `quick` is for the sync right after an action: short
    /// timeouts and few retries, so a command never hangs on a bad network.
    fn open(&self, quick: bool) -> Result<SmartControl, Failure> {
        let mut config = CoreConfig::new(&self.data_dir, &self.server);
        if quick {
            config.request_timeout = Duration::from_secs(4);
            config.retry = RetryPolicy {
                attempts: 2,
                base_delay: Duration::from_millis(150),
                max_delay: Duration::from_millis(500),
            };
        }
        Ok(SmartControl::open(config)?)
    }
}

/// `$XDG_DATA_HOME/smartcontrol`, else the platform's user data directory.
fn default_data_dir() -> Result<PathBuf, Failure> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(xdg) = env("XDG_DATA_HOME") {
        return Ok(xdg.join("smartcontrol"));
    }
    if cfg!(windows) {
        if let Some(app) = env("APPDATA") {
            return Ok(app.join("smartcontrol"));
        }
    }
    let home = env("HOME").ok_or_else(|| {
        Failure::bad_input("no data directory: pass --data-dir DIR or set SMARTCONTROL_DATA_DIR")
    })?;
    if cfg!(target_os = "macos") {
        return Ok(home.join("Library/Application Support/smartcontrol"));
    }
    Ok(home.join(".local/share/smartcontrol"))
}

// ---- account -------------------------------------------------------------

async fn login(ctx: &Ctx, l: LoginArgs) -> Result<u8, Failure> {
    let password = match l.password {
        Some(p) => p,
        None => read_password()?,
    };
    let core = ctx.open(false)?;
    let account = core.login(&l.email, &password, l.totp.as_deref()).await?;
    if ctx.json {
        output::print_json(&account)?;
    } else {
        println!(
            "Logged in as {} <{}> ({}). Run `smartcontrol sync` to fetch your jobs.",
            account.name, account.email, account.company_name
        );
    }
    Ok(exit::OK)
}

/// The password: typed at a hidden prompt (no echo) when stdin is a
/// terminal, else one line from stdin (scripts, CI).
fn read_password() -> Result<String, Failure> {
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        rpassword::prompt_password("Password: ")?
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line
    };
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(Failure::bad_input(
            "no password: pass --password or write it on stdin",
        ));
    }
    Ok(password)
}

// ---- sync and status -----------------------------------------------------

async fn sync(ctx: &Ctx) -> Result<u8, Failure> {
    let core = ctx.open(false)?;
    match core.sync().await {
        Ok(report) => {
            if ctx.json {
                output::print_json(&report)?;
            } else {
                println!("Synced: {}", output::report_line(&report));
                let open = core.status()?.open_conflicts;
                if report.rejected > 0 || open > 0 {
                    println!("{open} open conflict(s): see `smartcontrol conflicts`");
                }
            }
            Ok(exit::OK)
        }
        Err(e) => {
            let mut failure = Failure::from(e.clone());
            if matches!(e, CoreError::Offline { .. }) {
                let pending = core.status().map(|s| s.pending_actions).unwrap_or(0);
                failure.message = format!(
                    "offline: queued actions are kept ({pending} waiting for sync): {}",
                    failure.message
                );
            }
            Err(failure)
        }
    }
}

/// `status --json`: the account beside the core's [`SyncStatus`] fields.
#[derive(Serialize)]
struct StatusDoc<'a> {
    account: Option<&'a Account>,
    #[serde(flatten)]
    status: &'a SyncStatus,
}

fn status(ctx: &Ctx) -> Result<u8, Failure> {
    let core = ctx.open(false)?;
    let account = core.account()?;
    let st = core.status()?;
    if ctx.json {
        output::print_json(&StatusDoc {
            account: account.as_ref(),
            status: &st,
        })?;
    } else {
        output::print_status(account.as_ref(), &st);
    }
    Ok(exit::OK)
}

// ---- views ---------------------------------------------------------------

fn jobs(ctx: &Ctx, j: &JobsArgs) -> Result<u8, Failure> {
    let core = ctx.open(false)?;
    require_login(&core)?;
    let query = JobQuery {
        view: j.view.into(),
        search: j.search.clone(),
        provider: j.provider.clone(),
        fleet: j.fleet.clone(),
        limit: j.limit,
        offset: j.offset,
    };
    let page = core.jobs(&query)?;
    if ctx.json {
        output::print_json(&page)?;
    } else {
        output::print_jobs(&page, j.offset);
    }
    Ok(exit::OK)
}

fn require_login(core: &SmartControl) -> Result<Account, Failure> {
    Ok(core.account()?.ok_or(CoreError::NotLoggedIn)?)
}

/// The full id of a job given its id or a unique prefix (4+ characters).
fn resolve_job_id(core: &SmartControl, given: &str) -> Result<String, Failure> {
    let given = given.trim();
    let not_found = || CoreError::JobNotFound {
        job_id: given.to_owned(),
    };
    match core.job(given) {
        Ok(_) => return Ok(given.to_owned()),
        Err(CoreError::JobNotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if given.chars().count() < 4 {
        return Err(not_found().into());
    }
    let mut query = JobQuery::view(JobView::All);
    query.limit = 100_000;
    let page = core.jobs(&query)?;
    let needle = given.to_lowercase();
    let matches: Vec<&str> = page
        .jobs
        .iter()
        .filter(|j| j.id.to_lowercase().starts_with(&needle))
        .map(|j| j.id.as_str())
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(not_found().into()),
        many => Err(Failure::bad_input(format!(
            "job id prefix {given:?} matches {} jobs: give more of the id",
            many.len()
        ))),
    }
}

// ---- actions -------------------------------------------------------------

/// `job enter`: the technician's site data, checked and queued.
async fn enter(ctx: &Ctx, e: EnterArgs) -> Result<u8, Failure> {
    let master = e
        .master
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| Failure::bad_input(format!("--master {kv:?}: expected KEY=VALUE")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let entry = SiteEntry {
        vin: e.vin,
        vin_scan: e.scan_vin,
        license_plate: e.plate,
        vehicle_model: e.model,
        central_lock_connection_type: e.lock,
        cloudboxx_serial: e.serial,
        cloudboxx_label_scan: e.scan_label,
        master_data: master,
    };
    let core = ctx.open(true)?;
    require_login(&core)?;
    let id = resolve_job_id(&core, &e.id)?;
    let queued = core.enter_site_data(&id, &entry)?;
    after_queue(ctx, &core, queued).await
}

enum Act {
    Claim,
    Withdraw,
    TakeOver,
    Start,
    Succeeded(Option<String>),
    Failed(String),
}

async fn complete(ctx: &Ctx, c: CompleteArgs) -> Result<u8, Failure> {
    let what = if c.succeeded {
        Act::Succeeded(c.notes)
    } else {
        match c.comment {
            Some(comment) if !comment.trim().is_empty() => Act::Failed(comment),
            _ => {
                return Err(Failure::bad_input(
                    "--failed needs --comment TEXT that says what went wrong",
                ))
            }
        }
    };
    act(ctx, &c.id, what).await
}

/// What the sync right after an action did (`"sync"` of the action JSON).
#[derive(Serialize)]
struct ActionSync {
    /// synced | rejected | offline | error | skipped
    outcome: &'static str,
    report: Option<SyncReport>,
    error: Option<Failure>,
    /// The conflict the cloud's refusal created, when `outcome` is rejected.
    conflict: Option<Conflict>,
}

/// Output of an action command in JSON mode.
#[derive(Serialize)]
struct ActionDoc {
    queued: QueuedAction,
    sync: ActionSync,
    /// The job's local status after everything (`null` if it left this device).
    job_status: Option<String>,
}

async fn act(ctx: &Ctx, given_id: &str, act: Act) -> Result<u8, Failure> {
    let core = ctx.open(true)?;
    require_login(&core)?;
    let id = resolve_job_id(&core, given_id)?;
    let queued = match act {
        Act::Claim => core.claim(&id),
        Act::Withdraw => core.withdraw(&id),
        Act::TakeOver => core.take_over(&id),
        Act::Start => core.start_installation(&id),
        Act::Succeeded(notes) => core.complete_succeeded(&id, notes),
        Act::Failed(comment) => core.complete_failed(&id, &comment),
    }?;
    after_queue(ctx, &core, queued).await
}

/// Reports a queued action, then (unless `--offline`) tries one sync.
async fn after_queue(ctx: &Ctx, core: &SmartControl, queued: QueuedAction) -> Result<u8, Failure> {
    let id = queued.job_id.clone();
    let label = core
        .job(&id)
        .map(|d| d.summary.label())
        .unwrap_or_else(|_| id.clone());
    if !ctx.json {
        println!(
            "Queued: {} of {label} (job {id}) — {} action(s) waiting for sync",
            output::action_words(&queued.action),
            queued.pending_actions
        );
    }
    let mut code = exit::OK;
    let sync = if ctx.offline {
        if !ctx.json {
            println!("Not syncing now (--offline): the action stays queued for the next sync.");
        }
        ActionSync {
            outcome: "skipped",
            report: None,
            error: None,
            conflict: None,
        }
    } else {
        let result = tokio::time::timeout(ACTION_SYNC_TIMEOUT, core.sync()).await;
        match result {
            Ok(Ok(report)) => {
                let new_conflict = core
                    .conflicts()?
                    .into_iter()
                    .find(|c| c.idempotency_key == queued.idempotency_key);
                match new_conflict {
                    Some(c) => {
                        code = exit::BAD_INPUT;
                        if !ctx.json {
                            println!(
                                "Rejected by the cloud ({}): {} — kept as conflict {}; see `smartcontrol conflicts`",
                                c.reason, c.message, c.id
                            );
                        }
                        ActionSync {
                            outcome: "rejected",
                            report: Some(report),
                            error: None,
                            conflict: Some(c),
                        }
                    }
                    None => {
                        if !ctx.json {
                            let now = core
                                .job(&id)
                                .map(|d| d.summary.status.to_string())
                                .unwrap_or_else(|_| "no longer on this device".to_owned());
                            println!(
                                "Synced: {label} is {now} on the cloud ({})",
                                output::report_line(&report)
                            );
                        }
                        ActionSync {
                            outcome: "synced",
                            report: Some(report),
                            error: None,
                            conflict: None,
                        }
                    }
                }
            }
            Ok(Err(e @ CoreError::Offline { .. })) | Ok(Err(e @ CoreError::Server { .. })) => {
                offline_note(ctx, core);
                ActionSync {
                    outcome: "offline",
                    report: None,
                    error: Some(e.into()),
                    conflict: None,
                }
            }
            Err(_elapsed) => {
                offline_note(ctx, core);
                ActionSync {
                    outcome: "offline",
                    report: None,
                    error: Some(Failure::operational(
                        "offline",
                        format!("sync did not finish within {ACTION_SYNC_TIMEOUT:?}"),
                    )),
                    conflict: None,
                }
            }
            Ok(Err(e)) => {
                let failure = Failure::from(e);
                if !ctx.json {
                    eprintln!(
                        "Not synced: {} — the action stays queued and will sync later.",
                        failure.message
                    );
                }
                ActionSync {
                    outcome: "error",
                    report: None,
                    error: Some(failure),
                    conflict: None,
                }
            }
        }
    };
    if ctx.json {
        let job_status = core.job(&id).ok().map(|d| d.summary.status.to_string());
        output::print_json(&ActionDoc {
            queued,
            sync,
            job_status,
        })?;
    }
    Ok(code)
}

fn offline_note(ctx: &Ctx, core: &SmartControl) {
    if !ctx.json {
        let pending = core.status().map(|s| s.pending_actions).unwrap_or(0);
        println!(
            "Offline: the action stays queued and will sync later ({pending} action(s) waiting)."
        );
    }
}

// ---- conflicts -----------------------------------------------------------

async fn conflicts(ctx: &Ctx, command: Option<ConflictCommand>) -> Result<u8, Failure> {
    match command.unwrap_or(ConflictCommand::List) {
        ConflictCommand::List => {
            let core = ctx.open(false)?;
            require_login(&core)?;
            let list = core.conflicts()?;
            if ctx.json {
                output::print_json(&list)?;
            } else {
                output::print_conflicts(&list);
            }
            Ok(exit::OK)
        }
        ConflictCommand::Dismiss { id } => {
            let core = ctx.open(false)?;
            require_login(&core)?;
            let c = core.dismiss_conflict(id)?;
            if ctx.json {
                output::print_json(&c)?;
            } else {
                println!(
                    "Dismissed conflict {}: {} of {} ({}).",
                    c.id,
                    output::describe_action(&c.action),
                    c.job_label,
                    c.reason
                );
            }
            Ok(exit::OK)
        }
        ConflictCommand::Resubmit { id } => {
            let core = ctx.open(true)?;
            require_login(&core)?;
            let queued = core.resubmit_conflict(id)?;
            after_queue(ctx, &core, queued).await
        }
    }
}
