// JobActions.kt: the buttons of the job detail screen, from the actions the core's rules allow.
package com.invers.smartcontrol.app.ui

import com.invers.smartcontrol.ffi.JobAction
import com.invers.smartcontrol.ffi.JobDetail

/** A button on the job detail screen. */
enum class DetailButton(val title: String) {
    CLAIM("Assign Job to Me"),
    TAKE_OVER("Take over"),
    START_INSTALLATION("Start installation"),
    INSTALL_AT_VEHICLE("Install at the vehicle"),
    COMPLETE("Complete"),
    WITHDRAW("Give back"),
}

/**
 * The buttons for [detail]. The core decides which actions the signed-in technician may take
 * (`JobDetail.availableActions`, computed by core/src/rules.rs); this only maps them to buttons. The vehicle
 * workflow and the completion screen are offered exactly when the job can be completed (it is the technician's
 * running job).
 */
fun detailButtons(detail: JobDetail): List<DetailButton> {
    val allowed = detail.availableActions
    return buildList {
        if (JobAction.CLAIM in allowed) add(DetailButton.CLAIM)
        if (JobAction.TAKE_OVER in allowed) add(DetailButton.TAKE_OVER)
        if (JobAction.START_INSTALLATION in allowed) add(DetailButton.START_INSTALLATION)
        if (JobAction.COMPLETE_FAILED in allowed) {
            add(DetailButton.INSTALL_AT_VEHICLE)
            add(DetailButton.COMPLETE)
        }
        if (JobAction.WITHDRAW in allowed) add(DetailButton.WITHDRAW)
    }
}
