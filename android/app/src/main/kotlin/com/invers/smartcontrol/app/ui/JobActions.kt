// JobActions.kt: which buttons the job detail offers. Presentation only: the core's rules decide (and refuse with a message).
package com.invers.smartcontrol.app.ui

import com.invers.smartcontrol.ffi.JobDetail
import com.invers.smartcontrol.ffi.JobStatus

/** A button on the job detail screen. */
enum class JobAction(val title: String) {
    CLAIM("Assign Job to Me"),
    TAKE_OVER("Take over"),
    WITHDRAW("Give back"),
    START_INSTALLATION("Start installation"),
    INSTALL_AT_VEHICLE("Install at the vehicle"),
    COMPLETE("Complete"),
}

/**
 * The buttons worth showing for [detail], given the signed-in technician [myId]. The FFI does not (yet) expose
 * the core's allowed actions, so this only maps status and holder to buttons; every action still goes through
 * the core, whose rules (core/src/rules.rs) refuse what is not allowed with a message the screen shows. Nothing
 * here decides a rule: a wrong offer costs a refusal message, never a wrong state.
 */
fun offeredActions(detail: JobDetail, myId: String?): List<JobAction> {
    val item = detail.item
    return when (item.status) {
        JobStatus.ASSIGNED -> listOf(JobAction.CLAIM)
        JobStatus.RUNNING ->
            if (myId != null && item.assigneeId == myId) {
                listOfNotNull(
                    JobAction.START_INSTALLATION.takeIf { !detail.installationStarted },
                    JobAction.INSTALL_AT_VEHICLE,
                    JobAction.COMPLETE,
                    JobAction.WITHDRAW,
                )
            } else {
                listOf(JobAction.TAKE_OVER)
            }
        else -> emptyList()
    }
}
