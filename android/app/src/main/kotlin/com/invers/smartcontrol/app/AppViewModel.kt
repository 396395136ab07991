// AppViewModel.kt: app-wide state: the sync status (offline banner, conflicts badge), background sync, logout.
package com.invers.smartcontrol.app

import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.SyncStatus
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlin.time.Duration.Companion.seconds

/** What the logout button led to: done, or the core refused because actions still wait for sync. */
sealed interface LogoutState {
    data object Idle : LogoutState
    data class UnsyncedWork(val message: String) : LogoutState
    data class Failed(val message: String) : LogoutState
}

class AppViewModel(private val core: SmartControl) : ViewModel() {

    /** The core's sync status: now, then on every change (state, pending count, conflicts, login). */
    val status: StateFlow<SyncStatus> = core.syncStatusIn(viewModelScope)

    private val _logout = MutableStateFlow<LogoutState>(LogoutState.Idle)
    val logout: StateFlow<LogoutState> = _logout.asStateFlow()

    init {
        if (status.value.loggedIn) startSync()
    }

    /** Background sync: every 30 s, at once after each action, backing off while offline (the core's loop). */
    fun startSync() {
        try {
            core.startBackgroundSync(30.seconds)
        } catch (e: SmartControlException) {
            _logout.value = LogoutState.Failed(e.message ?: e.kind)
        }
    }

    /** Logs out; refused while actions wait for sync unless [discardUnsynced] (asked in a dialog). */
    fun logout(discardUnsynced: Boolean = false) {
        viewModelScope.launch {
            try {
                core.logout(discardUnsynced)
                core.stopBackgroundSync()
                _logout.value = LogoutState.Idle
            } catch (e: SmartControlException.UnsyncedWork) {
                _logout.value = LogoutState.UnsyncedWork(e.message ?: e.kind)
            } catch (e: SmartControlException) {
                _logout.value = LogoutState.Failed(e.message ?: e.kind)
            }
        }
    }

    fun dismissLogoutMessage() {
        _logout.value = LogoutState.Idle
    }
}
