//! The technician's job actions as a pure state machine.
//!
//! Both the local effect of an action (applied at once, before sync) and the
//! replay of still-queued actions on top of fresh server state go through
//! [`apply`]. It does no I/O and never panics, so it is property-tested below.

use smartcontrol_cloud_api::work::describe_missing;
use smartcontrol_cloud_api::{Action, JobStatus, MissingWork, SiteData, SiteField};

/// The part of a job the rules look at.
#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    pub status: JobStatus,
    /// Technician id of the current assignee (RUNNING and final states).
    pub assignee_id: Option<String>,
    pub assignee_name: Option<String>,
    pub failure_comment: Option<String>,
    pub installation_started: bool,
    /// The job's required work the latest attested run on its unit does not
    /// prove (`cloud_api::work::missing_work`); empty: SUCCEEDED is allowed.
    pub missing_work: Vec<MissingWork>,
    /// Specifications the provider set: the technician cannot enter these.
    pub provider_specified: Vec<SiteField>,
    /// What technicians entered so far (the cloud's, with queued entries).
    pub site: SiteData,
}

/// Who acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub name: String,
}

/// Why an action is refused. Each message tells the technician what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    #[error("the job is held by {holder}; use take-over to take it")]
    HeldByColleague { holder: String },
    #[error("the job is already yours")]
    AlreadyYours,
    #[error("the job is not running; claim it first")]
    NotRunning,
    #[error("the job is not yours; take it over first")]
    NotYours,
    #[error("the job is already finished ({status}); nothing more can be done")]
    Finished { status: JobStatus },
    #[error("the installation was already started")]
    AlreadyStarted,
    #[error("the job's required work is not done yet: {}; run the on-vehicle workflow (every required step and test must pass in the same run), or complete the job as failed with a comment", describe_missing(.missing))]
    RequiredWorkMissing { missing: Vec<MissingWork> },
    #[error("the provider specified {field}: what the provider set cannot be changed on site")]
    SpecifiedByProvider { field: String },
    #[error("nothing to enter: give at least one value")]
    NothingEntered,
    #[error("a failed job needs a comment that says what went wrong")]
    CommentRequired,
    #[error("the job has status {status}, which this app version does not know; update the app")]
    UnknownStatus { status: JobStatus },
    #[error("the job is not released to your company yet")]
    NotReleased,
}

/// Applies `action` by `actor` to `job`: the new state, or why it is refused
/// (in which case nothing changes).
pub fn apply(job: &JobState, actor: &Actor, action: &Action) -> Result<JobState, RuleViolation> {
    let mine = job.assignee_id.as_deref() == Some(actor.id.as_str());
    match &job.status {
        JobStatus::Succeeded | JobStatus::Failed => {
            return Err(RuleViolation::Finished {
                status: job.status.clone(),
            })
        }
        JobStatus::Pending => return Err(RuleViolation::NotReleased),
        JobStatus::Other(_) => {
            return Err(RuleViolation::UnknownStatus {
                status: job.status.clone(),
            })
        }
        JobStatus::Assigned | JobStatus::Running => {}
    }
    let running = job.status == JobStatus::Running;
    let holder = || RuleViolation::HeldByColleague {
        holder: job
            .assignee_name
            .clone()
            .unwrap_or_else(|| "another technician".to_owned()),
    };
    let mut next = job.clone();
    match action {
        Action::Claim => {
            if running {
                return Err(if mine {
                    RuleViolation::AlreadyYours
                } else {
                    holder()
                });
            }
            take(&mut next, actor);
        }
        // Taking over a job nobody holds any more (the colleague gave it
        // back meanwhile) takes it, as a claim does: the cloud applies it
        // the same way, so work queued after it offline is not lost.
        Action::TakeOver => {
            if mine {
                return Err(RuleViolation::AlreadyYours);
            }
            take(&mut next, actor);
        }
        Action::Withdraw => {
            require_mine(running, mine, holder)?;
            next.status = JobStatus::Assigned;
            next.assignee_id = None;
            next.assignee_name = None;
            next.installation_started = false;
        }
        Action::StartInstallation => {
            require_mine(running, mine, holder)?;
            if job.installation_started {
                return Err(RuleViolation::AlreadyStarted);
            }
            next.installation_started = true;
        }
        Action::CompleteSucceeded { .. } => {
            require_mine(running, mine, holder)?;
            if !job.missing_work.is_empty() {
                return Err(RuleViolation::RequiredWorkMissing {
                    missing: job.missing_work.clone(),
                });
            }
            next.status = JobStatus::Succeeded;
        }
        Action::EnterSiteData { data } => {
            require_mine(running, mine, holder)?;
            let fields = data.fields();
            if fields.is_empty() {
                return Err(RuleViolation::NothingEntered);
            }
            if let Some(f) = fields.iter().find(|f| job.provider_specified.contains(f)) {
                return Err(RuleViolation::SpecifiedByProvider { field: f.name() });
            }
            next.site = job.site.merged(data);
        }
        Action::CompleteFailed { comment, .. } => {
            require_mine(running, mine, holder)?;
            if comment.trim().is_empty() {
                return Err(RuleViolation::CommentRequired);
            }
            next.status = JobStatus::Failed;
            next.failure_comment = Some(comment.trim().to_owned());
        }
    }
    Ok(next)
}

/// A kind of technician action, as offered by a UI (the payloads of the
/// completions are the technician's to give).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Claim,
    TakeOver,
    Withdraw,
    StartInstallation,
    CompleteSucceeded,
    CompleteFailed,
    EnterSiteData,
}

impl ActionKind {
    /// Every kind, in the order a UI lists them.
    pub const ALL: [ActionKind; 7] = [
        ActionKind::Claim,
        ActionKind::TakeOver,
        ActionKind::StartInstallation,
        ActionKind::EnterSiteData,
        ActionKind::CompleteSucceeded,
        ActionKind::CompleteFailed,
        ActionKind::Withdraw,
    ];

    /// The action with the payload a technician would give (a non-empty
    /// comment for FAILED): what [`available_actions`] asks [`apply`] about.
    fn sample(self) -> Action {
        match self {
            ActionKind::Claim => Action::Claim,
            ActionKind::TakeOver => Action::TakeOver,
            ActionKind::Withdraw => Action::Withdraw,
            ActionKind::StartInstallation => Action::StartInstallation,
            ActionKind::CompleteSucceeded => Action::CompleteSucceeded {
                report: Default::default(),
            },
            ActionKind::CompleteFailed => Action::CompleteFailed {
                comment: "comment".to_owned(),
                report: Default::default(),
            },
            ActionKind::EnterSiteData => Action::EnterSiteData {
                data: SiteData::default(),
            },
        }
    }
}

/// The actions `actor` may take on `job` now, decided by [`apply`] itself so
/// that the buttons a UI shows and the rules never disagree. FAILED is
/// offered when a comment would make it valid, site data entry when the
/// job is the actor's to work on. Take-over is not offered where a claim
/// does the same (a job nobody holds).
pub fn available_actions(job: &JobState, actor: &Actor) -> Vec<ActionKind> {
    let ok = |kind: ActionKind| match kind {
        // Any value would do: ask about the job, not about a payload.
        ActionKind::EnterSiteData => {
            let mine = job.assignee_id.as_deref() == Some(actor.id.as_str());
            job.status == JobStatus::Running && mine
        }
        k => apply(job, actor, &k.sample()).is_ok(),
    };
    let claimable = ok(ActionKind::Claim);
    ActionKind::ALL
        .into_iter()
        .filter(|k| ok(*k) && !(claimable && *k == ActionKind::TakeOver))
        .collect()
}

fn take(next: &mut JobState, actor: &Actor) {
    next.status = JobStatus::Running;
    next.assignee_id = Some(actor.id.clone());
    next.assignee_name = Some(actor.name.clone());
    next.installation_started = false;
}

fn require_mine(
    running: bool,
    mine: bool,
    holder: impl FnOnce() -> RuleViolation,
) -> Result<(), RuleViolation> {
    match (running, mine) {
        (false, _) => Err(RuleViolation::NotRunning),
        (true, false) => Err(holder()),
        (true, true) => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use smartcontrol_cloud_api::JobReport;

    fn missing() -> Vec<MissingWork> {
        vec![MissingWork::Test {
            test: "doors_closed".into(),
            why: "not run in the latest run".into(),
        }]
    }

    fn assigned(work_required: bool) -> JobState {
        JobState {
            status: JobStatus::Assigned,
            assignee_id: None,
            assignee_name: None,
            failure_comment: None,
            installation_started: false,
            missing_work: if work_required { missing() } else { Vec::new() },
            provider_specified: vec![SiteField::Vin],
            site: SiteData::default(),
        }
    }

    fn actor(n: u8) -> Actor {
        Actor {
            id: format!("t{n}"),
            name: format!("Tech {n}"),
        }
    }

    fn failed(comment: &str) -> Action {
        Action::CompleteFailed {
            comment: comment.into(),
            report: JobReport::default(),
        }
    }

    #[test]
    fn claim_start_and_succeed() {
        let a = actor(1);
        let s = apply(&assigned(false), &a, &Action::Claim).unwrap();
        assert_eq!(s.status, JobStatus::Running);
        assert_eq!(s.assignee_id.as_deref(), Some("t1"));
        let s = apply(&s, &a, &Action::StartInstallation).unwrap();
        assert!(s.installation_started);
        let s = apply(
            &s,
            &a,
            &Action::CompleteSucceeded {
                report: JobReport::default(),
            },
        )
        .unwrap();
        assert_eq!(s.status, JobStatus::Succeeded);
    }

    #[test]
    fn success_is_refused_until_required_work_is_done() {
        let a = actor(1);
        let s = apply(&assigned(true), &a, &Action::Claim).unwrap();
        let done = Action::CompleteSucceeded {
            report: JobReport::default(),
        };
        let refused = apply(&s, &a, &done).unwrap_err();
        assert_eq!(
            refused,
            RuleViolation::RequiredWorkMissing { missing: missing() }
        );
        assert!(
            refused.to_string().contains("test doors_closed: not run"),
            "{refused}"
        );
        let mut tested = s.clone();
        tested.missing_work.clear();
        assert_eq!(
            apply(&tested, &a, &done).unwrap().status,
            JobStatus::Succeeded
        );
        // Failing is always possible, with a comment.
        assert_eq!(
            apply(&s, &a, &failed("no fix")).unwrap().status,
            JobStatus::Failed
        );
    }

    #[test]
    fn failed_needs_a_comment() {
        let a = actor(1);
        let s = apply(&assigned(false), &a, &Action::Claim).unwrap();
        assert_eq!(
            apply(&s, &a, &failed("  ")),
            Err(RuleViolation::CommentRequired)
        );
        let f = apply(&s, &a, &failed(" wiring missing ")).unwrap();
        assert_eq!(f.failure_comment.as_deref(), Some("wiring missing"));
    }

    #[test]
    fn colleague_must_take_over_not_claim() {
        let (a, b) = (actor(1), actor(2));
        let s = apply(&assigned(false), &a, &Action::Claim).unwrap();
        assert_eq!(
            apply(&s, &b, &Action::Claim),
            Err(RuleViolation::HeldByColleague {
                holder: "Tech 1".into()
            })
        );
        assert!(matches!(
            apply(&s, &b, &Action::StartInstallation),
            Err(RuleViolation::HeldByColleague { .. })
        ));
        let s = apply(&s, &b, &Action::TakeOver).unwrap();
        assert_eq!(s.assignee_id.as_deref(), Some("t2"));
        assert!(matches!(
            apply(&s, &a, &Action::Withdraw),
            Err(RuleViolation::HeldByColleague { .. })
        ));
    }

    #[test]
    fn withdraw_releases_the_job() {
        let a = actor(1);
        let s = apply(&assigned(false), &a, &Action::Claim).unwrap();
        let s = apply(&s, &a, &Action::Withdraw).unwrap();
        assert_eq!(s, assigned(false));
    }

    #[test]
    fn taking_over_a_job_nobody_holds_takes_it_as_a_claim() {
        // Ben queued a take-over offline; Anna gave the job back meanwhile.
        let (anna, ben) = (actor(1), actor(2));
        let s = apply(&assigned(false), &anna, &Action::Claim).unwrap();
        let s = apply(&s, &anna, &Action::Withdraw).unwrap();
        let s = apply(&s, &ben, &Action::TakeOver).unwrap();
        assert_eq!(s.status, JobStatus::Running);
        assert_eq!(s.assignee_id.as_deref(), Some("t2"));
        // A UI still offers only the claim for a free job.
        assert_eq!(
            available_actions(&assigned(false), &ben),
            vec![ActionKind::Claim]
        );
    }

    #[test]
    fn site_data_fills_only_what_the_provider_left_open() {
        let a = actor(1);
        let s = apply(&assigned(false), &a, &Action::Claim).unwrap();
        let vin = Action::EnterSiteData {
            data: SiteData {
                vin: Some("WVWZZZ1JZXW000001".into()),
                ..SiteData::default()
            },
        };
        assert_eq!(
            apply(&s, &a, &vin),
            Err(RuleViolation::SpecifiedByProvider {
                field: "vin".into()
            })
        );
        let plate = Action::EnterSiteData {
            data: SiteData {
                license_plate: Some("B-SC 1".into()),
                ..SiteData::default()
            },
        };
        let next = apply(&s, &a, &plate).unwrap();
        assert_eq!(next.site.license_plate.as_deref(), Some("B-SC 1"));
        // Only the holder enters data, and only while the job runs.
        assert!(matches!(
            apply(&next, &actor(2), &plate),
            Err(RuleViolation::HeldByColleague { .. })
        ));
        assert_eq!(
            apply(&assigned(false), &a, &plate),
            Err(RuleViolation::NotRunning)
        );
        assert_eq!(
            apply(
                &s,
                &a,
                &Action::EnterSiteData {
                    data: SiteData::default()
                }
            ),
            Err(RuleViolation::NothingEntered)
        );
    }

    #[test]
    fn unknown_and_pending_status_refuse_everything() {
        let mut s = assigned(false);
        s.status = JobStatus::Other("ON_HOLD".into());
        assert!(matches!(
            apply(&s, &actor(1), &Action::Claim),
            Err(RuleViolation::UnknownStatus { .. })
        ));
        s.status = JobStatus::Pending;
        assert_eq!(
            apply(&s, &actor(1), &Action::Claim),
            Err(RuleViolation::NotReleased)
        );
    }

    #[test]
    fn available_actions_follow_the_job_through_its_life() {
        use ActionKind::*;
        let (a, b) = (actor(1), actor(2));
        let job = assigned(true);
        assert_eq!(available_actions(&job, &a), vec![Claim]);
        let mine = apply(&job, &a, &Action::Claim).unwrap();
        // Work required and not done yet: no SUCCEEDED button.
        assert_eq!(
            available_actions(&mine, &a),
            vec![StartInstallation, EnterSiteData, CompleteFailed, Withdraw]
        );
        assert_eq!(available_actions(&mine, &b), vec![TakeOver]);
        let mut started = apply(&mine, &a, &Action::StartInstallation).unwrap();
        assert_eq!(
            available_actions(&started, &a),
            vec![EnterSiteData, CompleteFailed, Withdraw]
        );
        started.missing_work.clear();
        assert_eq!(
            available_actions(&started, &a),
            vec![EnterSiteData, CompleteSucceeded, CompleteFailed, Withdraw]
        );
        let done = apply(&started, &a, &failed("no fix")).unwrap();
        assert!(available_actions(&done, &a).is_empty());
        assert!(available_actions(&done, &b).is_empty());
        let mut pending = assigned(false);
        pending.status = JobStatus::Pending;
        assert!(available_actions(&pending, &a).is_empty());
    }

    fn any_action() -> impl Strategy<Value = Action> {
        prop_oneof![
            Just(Action::Claim),
            Just(Action::Withdraw),
            Just(Action::TakeOver),
            Just(Action::StartInstallation),
            Just(Action::CompleteSucceeded {
                report: JobReport::default()
            }),
            "[ a-z]{0,3}".prop_map(|c| failed(&c)),
            (any::<bool>(), any::<bool>()).prop_map(|(vin, plate)| Action::EnterSiteData {
                data: SiteData {
                    vin: vin.then(|| "WVWZZZ1JZXW000001".to_owned()),
                    license_plate: plate.then(|| "B-SC 1".to_owned()),
                    ..SiteData::default()
                },
            }),
        ]
    }

    proptest! {
        /// Random sequences of actions by three technicians never break a rule.
        #[test]
        fn random_sequences_keep_every_invariant(
            work_required in any::<bool>(),
            steps in proptest::collection::vec((0u8..3, any_action(), any::<bool>()), 0..40),
        ) {
            let mut state = assigned(work_required);
            let mut work_done = !work_required;
            for (who, action, work_done_now) in steps {
                if work_done_now { state.missing_work.clear(); work_done = true; }
                let before = state.clone();
                match apply(&state, &actor(who), &action) {
                    Ok(next) => {
                        // A final state is never left.
                        prop_assert!(!before.status.is_final());
                        state = next;
                    }
                    Err(_) => prop_assert_eq!(&state, &before),
                }
                // What the provider specified is never entered on site.
                prop_assert!(state.site.vin.is_none());
                // RUNNING <=> someone holds it; ASSIGNED => no one does.
                match &state.status {
                    JobStatus::Running => prop_assert!(state.assignee_id.is_some()),
                    JobStatus::Assigned => {
                        prop_assert!(state.assignee_id.is_none());
                        prop_assert!(!state.installation_started);
                    }
                    JobStatus::Failed => prop_assert!(state
                        .failure_comment
                        .as_deref()
                        .is_some_and(|c| !c.trim().is_empty())),
                    JobStatus::Succeeded => prop_assert!(work_done),
                    other => prop_assert!(false, "unexpected status {other}"),
                }
            }
        }
    }
}
