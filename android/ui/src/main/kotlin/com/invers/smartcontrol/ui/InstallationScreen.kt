// InstallationScreen.kt: the on-vehicle wizard: the core's workflow with live progress and the test table with hints.
package com.invers.smartcontrol.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.semantics.stateDescription
import androidx.compose.ui.unit.dp
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.BleTransport
import com.invers.smartcontrol.ffi.VehicleTestResult
import com.invers.smartcontrol.ffi.WorkflowOptions
import com.invers.smartcontrol.ffi.WorkflowProgress
import com.invers.smartcontrol.ffi.WorkflowReport
import com.invers.smartcontrol.ffi.WorkflowStep
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

enum class StepState { WAITING, RUNNING, OK, FAILED }

data class StepUi(val step: WorkflowStep, val state: StepState = StepState.WAITING, val detail: String = "")

/** The wizard's state, built only from the core's progress events and its final report. */
data class InstallUi(
    val running: Boolean = false,
    val steps: List<StepUi> = WorkflowStep.entries.map { StepUi(it) },
    val configAcked: Long = 0,
    val configTotal: Long = 0,
    val resumedFrom: Long = 0,
    val reconnects: List<Pair<String, Long>> = emptyList(),
    val tests: List<VehicleTestResult> = emptyList(),
    val report: WorkflowReport? = null,
    val error: String? = null,
    val stopped: Boolean = false,
)

/**
 * The wizard's state, on [scope]. [transport]: the platform's BLE stack (null: the core's built-in driver);
 * [options]: reconnect policy and tests.
 */
class InstallationState(
    private val core: SmartControl,
    private val scope: CoroutineScope,
    private val jobId: String,
    private val transport: BleTransport? = null,
    private val options: WorkflowOptions = WorkflowOptions(),
) {
    private val _ui = MutableStateFlow(InstallUi())
    val ui: StateFlow<InstallUi> = _ui.asStateFlow()
    private var run: Job? = null

    /** Runs the core's workflow (connect, authenticate, identify, check, bind, configure, verify, tests, attest). */
    fun start() {
        if (run?.isActive == true) return
        _ui.value = InstallUi(running = true)
        run = scope.launch {
            try {
                // onProgress runs on a core thread; MutableStateFlow.update is thread-safe.
                val report = core.runInstallation(jobId, options, transport) { progress -> _ui.update { it.reduce(progress) } }
                _ui.update { it.copy(running = false, report = report, tests = report.tests) }
            } catch (e: SmartControlException) {
                _ui.update { it.copy(running = false, error = e.forTechnician()) }
            } catch (e: CancellationException) {
                _ui.update { it.copy(running = false, stopped = true) }
                throw e
            }
        }
    }

    /** Cancelling the coroutine drops the binding's future, which aborts the workflow in the core. */
    fun stop() {
        run?.cancel()
    }
}

private fun InstallUi.reduce(p: WorkflowProgress): InstallUi = when (p) {
    is WorkflowProgress.StepStarted -> copy(steps = steps.map { if (it.step == p.step) it.copy(state = StepState.RUNNING) else it })
    is WorkflowProgress.StepDone -> copy(
        steps = steps.map {
            if (it.step == p.step) it.copy(state = if (p.ok) StepState.OK else StepState.FAILED, detail = p.detail) else it
        },
    )
    is WorkflowProgress.ConfigProgress ->
        copy(configAcked = p.acked.toLong(), configTotal = p.total.toLong(), resumedFrom = p.resumedFrom.toLong())
    is WorkflowProgress.Reconnecting -> copy(reconnects = reconnects + (p.reason to p.attempt.toLong()))
    is WorkflowProgress.TestResult -> copy(tests = tests + p.result)
}

/**
 * [requestBle]: the platform asks for Bluetooth permissions and calls back with the answer
 * (Android's Activity does; the JVM has nothing to ask).
 */
@Composable
fun InstallationScreen(
    state: InstallationState,
    onComplete: () -> Unit,
    onBack: () -> Unit,
    requestBle: (onResult: (granted: Boolean) -> Unit) -> Unit = { it(true) },
    bleDenied: Boolean = false,
) {
    val ui by state.ui.collectAsState()
    val strings = LocalStrings.current

    Column(Modifier.fillMaxSize()) {
        TopAppBar(
            title = { Text(tr(Str.INSTALLATION)) },
            navigationIcon = { TextButton(onClick = { state.stop(); onBack() }) { Text(tr(Str.BACK)) } },
        )
        Column(
            Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            if (bleDenied) ErrorText(tr(Str.BLE_DENIED))
            ui.steps.forEach { StepRow(it, strings) }
            if (ui.configTotal > 0) {
                Text(
                    strings.get(Str.CONFIG_PROGRESS, ui.configAcked, ui.configTotal) +
                        if (ui.resumedFrom > 0) strings.get(Str.RESUMED_AT, ui.resumedFrom) else "",
                )
                LinearProgressIndicator(
                    progress = { ui.configAcked.toFloat() / ui.configTotal.toFloat() },
                    modifier = Modifier.fillMaxWidth(),
                )
            }
            ui.reconnects.forEach { (reason, attempt) ->
                Text(strings.get(Str.RECONNECTING, reason, attempt), color = MaterialTheme.colorScheme.secondary)
            }
            if (ui.tests.isNotEmpty()) {
                HorizontalDivider()
                SectionTitle(tr(Str.VEHICLE_TESTS))
                TestResultsTable(ui.tests)
            }
            ui.report?.let { report ->
                HorizontalDivider()
                Text(strings.get(Str.REPORT, report.device.serial, report.device.firmwareVersion, report.reconnects.toLong()))
                Text(if (report.allTestsPassed) tr(Str.ALL_PASSED) else tr(Str.SOME_FAILED))
                RequiredWorkList(report.requiredWork)
            }
            ErrorText(ui.error)
            if (ui.stopped) ErrorText(tr(Str.STOPPED))
            val label = when {
                ui.running -> tr(Str.STOP)
                ui.report != null -> tr(Str.CONTINUE_TO_COMPLETION)
                ui.error == null && !ui.stopped -> tr(Str.CONNECT)
                else -> tr(Str.TRY_AGAIN)
            }
            val modifier = Modifier.fillMaxWidth().semantics { contentDescription = label }
            when {
                ui.running -> OutlinedButton(onClick = state::stop, modifier = modifier) { Text(label) }
                ui.report != null -> Button(onClick = onComplete, modifier = modifier) { Text(label) }
                else -> Button(onClick = { requestBle { granted -> if (granted) state.start() } }, modifier = modifier) { Text(label) }
            }
        }
    }
}

@Composable
private fun StepRow(step: StepUi, strings: Strings) {
    val (mark, stateKey) = when (step.state) {
        StepState.WAITING -> "○" to Str.STEP_WAITING
        StepState.RUNNING -> "…" to Str.STEP_RUNNING
        StepState.OK -> "✓" to Str.STEP_OK
        StepState.FAILED -> "✗" to Str.STEP_FAILED
    }
    val name = step.step.name.lowercase().replace('_', ' ').replaceFirstChar(Char::uppercase)
    Row(
        Modifier.fillMaxWidth().semantics(mergeDescendants = true) { stateDescription = strings.get(stateKey) },
        horizontalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        Text(
            mark,
            color = when (step.state) {
                StepState.OK -> MaterialTheme.colorScheme.primary
                StepState.FAILED -> MaterialTheme.colorScheme.error
                else -> MaterialTheme.colorScheme.onSurface
            },
        )
        Column {
            Text(name)
            if (step.detail.isNotEmpty()) Text(step.detail, style = MaterialTheme.typography.bodySmall)
        }
    }
}
