// App.kt: the app-wide state (sync status, background sync, navigation, logout guarding unsynced work) and the root composable.
package com.invers.smartcontrol.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.setValue
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.ui.Modifier
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.BleTransport
import com.invers.smartcontrol.ffi.SyncStatus
import com.invers.smartcontrol.ffi.WorkflowOptions
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/** The screens; job ids travel in the screen. */
sealed interface Screen {
    data object Login : Screen
    data object Jobs : Screen
    data class Job(val id: String) : Screen
    data class Install(val id: String) : Screen
    data class Complete(val id: String) : Screen
    data object Conflicts : Screen
}

/** What the logout button led to: done, or the core refused because actions still wait for sync. */
sealed interface LogoutState {
    data object Idle : LogoutState
    data class UnsyncedWork(val message: String) : LogoutState
    data class Failed(val message: String) : LogoutState
}

/**
 * App-wide state on [scope] (Android: a ViewModel's scope; tests: the test's). [transport]: the platform
 * BLE stack for the wizard (null: the core's driver). [syncInterval]: background sync period (null: none).
 */
class AppState(
    val core: SmartControl,
    val scope: CoroutineScope,
    val strings: Strings = stringsFor(),
    val transport: BleTransport? = null,
    val workflowOptions: WorkflowOptions = WorkflowOptions(),
    private val syncInterval: Duration? = 30.seconds,
) {
    /** The core's sync status: now, then on every change (state, pending count, conflicts, login). */
    val status: StateFlow<SyncStatus> = core.syncStatusIn(scope)

    private val _stack = MutableStateFlow(listOf(if (status.value.loggedIn) Screen.Jobs else Screen.Login))
    val stack: StateFlow<List<Screen>> = _stack.asStateFlow()

    private val _logout = MutableStateFlow<LogoutState>(LogoutState.Idle)
    val logout: StateFlow<LogoutState> = _logout.asStateFlow()

    init {
        if (status.value.loggedIn) startSync()
    }

    fun open(screen: Screen) = _stack.update { if (it.last() == screen) it else it + screen }
    fun back() = _stack.update { if (it.size > 1) it.dropLast(1) else it }
    /** Back to the job list, dropping the job's screens. */
    fun toJobs() = _stack.update { listOf(Screen.Jobs) }
    fun toLogin() = _stack.update { listOf(Screen.Login) }

    fun loggedIn() {
        startSync()
        toJobs()
    }

    /** Background sync: periodic, at once after each action, backing off while offline (the core's loop). */
    fun startSync() {
        val interval = syncInterval ?: return
        try {
            core.startBackgroundSync(interval)
        } catch (e: SmartControlException) {
            _logout.value = LogoutState.Failed(e.forTechnician())
        }
    }

    /** Logs out; refused while actions wait for sync unless [discardUnsynced] (asked in a dialog). */
    fun logout(discardUnsynced: Boolean = false) {
        scope.launch {
            try {
                core.logout(discardUnsynced)
                core.stopBackgroundSync()
                _logout.value = LogoutState.Idle
                toLogin()
            } catch (e: SmartControlException.UnsyncedWork) {
                _logout.value = LogoutState.UnsyncedWork(e.forTechnician())
            } catch (e: SmartControlException) {
                _logout.value = LogoutState.Failed(e.forTechnician())
            }
        }
    }

    fun dismissLogoutMessage() {
        _logout.value = LogoutState.Idle
    }
}

/** The whole app: the offline banner above every signed-in screen, the current screen, the logout dialog. */
@Composable
fun SmartControlApp(
    app: AppState,
    requestBle: (onResult: (granted: Boolean) -> Unit) -> Unit = { it(true) },
) {
    val status by app.status.collectAsState()
    val stack by app.stack.collectAsState()
    val logout by app.logout.collectAsState()
    val screen = stack.last()

    // Signed out (logout, or the session ended): back to the login screen, whatever was open.
    LaunchedEffect(status.loggedIn) {
        if (!status.loggedIn && app.stack.value.last() != Screen.Login) app.toLogin()
    }

    Surface(Modifier.fillMaxSize()) {
        Column(Modifier.fillMaxSize()) {
            if (screen != Screen.Login) OfflineBanner(status, onOpenConflicts = { app.open(Screen.Conflicts) })
            ScreenContent(app, screen, requestBle)
        }
    }

    when (val state = logout) {
        is LogoutState.UnsyncedWork -> AlertDialog(
            onDismissRequest = app::dismissLogoutMessage,
            title = { Text(tr(Str.UNSYNCED_TITLE)) },
            text = { Text(state.message) },
            confirmButton = {
                TextButton(onClick = { app.logout(discardUnsynced = true) }) { Text(tr(Str.DISCARD_AND_LOG_OUT)) }
            },
            dismissButton = { TextButton(onClick = app::dismissLogoutMessage) { Text(tr(Str.STAY)) } },
        )
        is LogoutState.Failed -> AlertDialog(
            onDismissRequest = app::dismissLogoutMessage,
            text = { Text(state.message) },
            confirmButton = { TextButton(onClick = app::dismissLogoutMessage) { Text(tr(Str.OK)) } },
        )
        LogoutState.Idle -> Unit
    }
}

/** One screen with its state holder, on a scope that lives as long as the screen is shown. */
@Composable
fun ScreenContent(
    app: AppState,
    screen: Screen,
    requestBle: (onResult: (granted: Boolean) -> Unit) -> Unit = { it(true) },
) {
    val scope = rememberCoroutineScope()
    val core = app.core
    when (screen) {
        Screen.Login -> {
            val state = remember(screen) { LoginState(core, scope) }
            LoginScreen(state, onLoggedIn = app::loggedIn)
        }
        Screen.Jobs -> {
            val state = remember(screen) { JobsState(core, scope) }
            JobsScreen(
                state,
                onOpenJob = { app.open(Screen.Job(it)) },
                onOpenConflicts = { app.open(Screen.Conflicts) },
                onLogout = { app.logout() },
            )
        }
        is Screen.Job -> {
            val state = remember(screen) { JobDetailState(core, scope, screen.id, app.strings) }
            JobDetailScreen(
                state,
                onInstall = { app.open(Screen.Install(screen.id)) },
                onComplete = { app.open(Screen.Complete(screen.id)) },
                onBack = app::back,
            )
        }
        is Screen.Install -> {
            val state = remember(screen) { InstallationState(core, scope, screen.id, app.transport, app.workflowOptions) }
            var denied by remember(screen) { androidx.compose.runtime.mutableStateOf(false) }
            InstallationScreen(
                state,
                onComplete = { app.back(); app.open(Screen.Complete(screen.id)) },
                onBack = app::back,
                requestBle = { onResult -> requestBle { granted -> denied = !granted; onResult(granted) } },
                bleDenied = denied,
            )
        }
        is Screen.Complete -> {
            val state = remember(screen) { CompletionState(core, scope, screen.id, app.strings) }
            CompletionScreen(state, onDone = app::toJobs, onBack = app::back)
        }
        Screen.Conflicts -> {
            val state = remember(screen) { ConflictsState(core, scope, app.strings) }
            ConflictsScreen(state, onBack = app::back)
        }
    }
}
