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
import androidx.compose.ui.Modifier
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.BleTransport
import com.invers.smartcontrol.ffi.SyncStatus
import com.invers.smartcontrol.ffi.WorkflowOptions
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import androidx.compose.runtime.mutableStateOf
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
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
    /** [pending] actions would be lost; [message] is the core's refusal. */
    data class UnsyncedWork(val pending: Long, val message: String) : LogoutState
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

    fun open(screen: Screen) = setStack(if (_stack.value.last() == screen) _stack.value else _stack.value + screen)
    fun back() = setStack(if (_stack.value.size > 1) _stack.value.dropLast(1) else _stack.value)
    /** Back to the job list, dropping the job's screens. */
    fun toJobs() = setStack(listOf(Screen.Jobs))
    fun toLogin() = setStack(listOf(Screen.Login))

    /** Each screen's state holder on its own child scope, kept while the screen is on the stack. */
    private val holders = mutableMapOf<Screen, Pair<CoroutineScope, Any>>()

    private fun setStack(stack: List<Screen>) = synchronized(holders) {
        _stack.value = stack
        holders.keys.filter { it !in stack }.forEach { holders.remove(it)?.first?.cancel() }
    }

    /** The state holder of [screen] (created on first use). */
    fun holder(screen: Screen): Any = synchronized(holders) {
        holders.getOrPut(screen) {
            val child = CoroutineScope(scope.coroutineContext + SupervisorJob(scope.coroutineContext[Job]))
            child to when (screen) {
                Screen.Login -> LoginState(core, child)
                Screen.Jobs -> JobsState(core, child)
                is Screen.Job -> JobDetailState(core, child, screen.id, strings)
                is Screen.Install -> InstallationState(core, child, screen.id, transport, workflowOptions)
                is Screen.Complete -> CompletionState(core, child, screen.id, strings)
                Screen.Conflicts -> ConflictsState(core, child, strings)
            }
        }.second
    }

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
                val pending = try {
                    core.pendingCount()
                } catch (_: SmartControlException) {
                    status.value.pendingActions.toLong()
                }
                _logout.value = LogoutState.UnsyncedWork(pending, e.forTechnician())
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
            text = { Text(tr(Str.UNSYNCED_BODY, state.pending)) },
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

/** One screen with its state holder (kept in [AppState] while the screen is on the stack). */
@Composable
fun ScreenContent(
    app: AppState,
    screen: Screen,
    requestBle: (onResult: (granted: Boolean) -> Unit) -> Unit = { it(true) },
) {
    when (screen) {
        Screen.Login -> LoginScreen(app.holder(screen) as LoginState, onLoggedIn = app::loggedIn)
        Screen.Jobs -> JobsScreen(
            app.holder(screen) as JobsState,
            onOpenJob = { app.open(Screen.Job(it)) },
            onOpenConflicts = { app.open(Screen.Conflicts) },
            onLogout = { app.logout() },
        )
        is Screen.Job -> JobDetailScreen(
            app.holder(screen) as JobDetailState,
            onInstall = { app.open(Screen.Install(screen.id)) },
            onComplete = { app.open(Screen.Complete(screen.id)) },
            onBack = app::back,
        )
        is Screen.Install -> {
            var denied by remember(screen) { mutableStateOf(false) }
            InstallationScreen(
                app.holder(screen) as InstallationState,
                onComplete = { app.back(); app.open(Screen.Complete(screen.id)) },
                onBack = app::back,
                requestBle = { onResult -> requestBle { granted -> denied = !granted; onResult(granted) } },
                bleDenied = denied,
            )
        }
        is Screen.Complete -> CompletionScreen(app.holder(screen) as CompletionState, onDone = app::toJobs, onBack = app::back)
        Screen.Conflicts -> ConflictsScreen(app.holder(screen) as ConflictsState, onBack = app::back)
    }
}
