// SmartControlException.kt: the facade's sealed errors, grouped by what the app does about them.
package com.invers.smartcontrol

import com.invers.smartcontrol.ffi.SmartControlException as Ffi

/**
 * What went wrong, grouped by what the screen does about it. [message] is
 * the core's text for the technician (it ends with what to do); [kind] is
 * the core's machine name (`offline`, `not_logged_in`, ...); [cause] is the
 * generated binding's exception.
 */
sealed class SmartControlException(
    message: String,
    val kind: String,
    cause: Throwable? = null,
) : Exception(message, cause) {
    /** Log in first (or again: the session expired). */
    class NotLoggedIn(message: String, kind: String, cause: Throwable?) : SmartControlException(message, kind, cause)

    /**
     * The account or its company is gone: vehicle access has ended, unsynced
     * work stays on the device (show it, and how many actions wait).
     */
    class AccountRemoved(message: String, kind: String, cause: Throwable?) : SmartControlException(message, kind, cause)

    /** Email, password or 6-digit code: ask the technician again. */
    class LoginRejected(message: String, kind: String, cause: Throwable?) : SmartControlException(message, kind, cause)

    /** The cloud cannot be reached: keep working, actions sync later. */
    class Offline(message: String, kind: String, cause: Throwable?) : SmartControlException(message, kind, cause)

    /** The rules refuse the action on this job now (show why). */
    class ActionRefused(message: String, kind: String, cause: Throwable?) : SmartControlException(message, kind, cause)

    /** A job or conflict is not on this device (refresh the list). */
    class NotFound(message: String, kind: String, cause: Throwable?) : SmartControlException(message, kind, cause)

    /** Actions would be lost by logging out: sync first or force. */
    class UnsyncedWork(message: String, kind: String, cause: Throwable?) : SmartControlException(message, kind, cause)

    /** At the vehicle: CloudBoxx unreachable, refused, wrong unit or vehicle, no access. */
    class Vehicle(message: String, kind: String, cause: Throwable?) : SmartControlException(message, kind, cause)

    /** Input the core cannot accept (fix the form; for site data the message names the field). */
    class InvalidInput(message: String, kind: String, cause: Throwable?) : SmartControlException(message, kind, cause)

    /** The cloud, the local store or the core itself failed: show, retry later. */
    class Failure(message: String, kind: String, cause: Throwable?) : SmartControlException(message, kind, cause)

    companion object {
        /** Maps the binding's flat error to the facade's groups. */
        fun from(e: Ffi): SmartControlException {
            val m = e.message ?: e.toString()
            return when (e) {
                is Ffi.NotLoggedIn -> NotLoggedIn(m, "not_logged_in", e)
                is Ffi.SessionExpired -> NotLoggedIn(m, "session_expired", e)
                is Ffi.InvalidCredentials -> LoginRejected(m, "invalid_credentials", e)
                is Ffi.TotpRequired -> LoginRejected(m, "totp_required", e)
                is Ffi.InvalidTotp -> LoginRejected(m, "invalid_totp", e)
                is Ffi.Offline -> Offline(m, "offline", e)
                is Ffi.ActionRefused -> ActionRefused(m, "action_refused", e)
                is Ffi.JobNotFound -> NotFound(m, "job_not_found", e)
                is Ffi.ConflictNotFound -> NotFound(m, "conflict_not_found", e)
                is Ffi.PendingActionsWouldBeLost -> UnsyncedWork(m, "pending_actions_would_be_lost", e)
                is Ffi.NoVehicleAccess -> Vehicle(m, "no_vehicle_access", e)
                is Ffi.Device -> Vehicle(m, "device", e)
                is Ffi.DeviceRefused -> Vehicle(m, "device_refused", e)
                is Ffi.WrongDevice -> Vehicle(m, "wrong_device", e)
                is Ffi.ConfigurationMismatch -> Vehicle(m, "configuration_mismatch", e)
                is Ffi.WrongVehicle -> Vehicle(m, "wrong_vehicle", e)
                is Ffi.InvalidInput -> InvalidInput(m, "invalid_input", e)
                is Ffi.InvalidSiteData -> InvalidInput(m, "invalid_site_data", e)
                is Ffi.AccountRemoved -> AccountRemoved(m, "account_removed", e)
                is Ffi.Server -> Failure(m, "server", e)
                is Ffi.MalformedResponse -> Failure(m, "malformed_response", e)
                is Ffi.Storage -> Failure(m, "storage", e)
                is Ffi.Internal -> Failure(m, "internal", e)
            }
        }
    }
}
