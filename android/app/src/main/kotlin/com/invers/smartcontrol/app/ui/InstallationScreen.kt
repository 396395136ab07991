// InstallationScreen.kt: the on-vehicle wizard: Bluetooth permissions, then the core's workflow with live progress and test results.
package com.invers.smartcontrol.app.ui

import android.Manifest
import android.content.pm.PackageManager
import android.os.Build
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.core.content.ContextCompat
import androidx.lifecycle.ViewModel
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.compose.viewModel
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.VehicleTestResult
import com.invers.smartcontrol.ffi.WorkflowProgress
import com.invers.smartcontrol.ffi.WorkflowReport
import com.invers.smartcontrol.ffi.WorkflowStep
import kotlinx.coroutines.CancellationException
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
    val notices: List<String> = emptyList(),
    val tests: List<VehicleTestResult> = emptyList(),
    val report: WorkflowReport? = null,
    val error: String? = null,
)

class InstallationViewModel(private val core: SmartControl, private val jobId: String) : ViewModel() {
    private val _ui = MutableStateFlow(InstallUi())
    val ui: StateFlow<InstallUi> = _ui.asStateFlow()
    private var run: Job? = null

    /** Runs the core's workflow (connect, authenticate, identify, bind, configure, verify, tests). */
    fun start() {
        if (run?.isActive == true) return
        _ui.value = InstallUi(running = true)
        run = viewModelScope.launch {
            try {
                // onProgress runs on a core thread; MutableStateFlow.update is thread-safe.
                val report = core.runInstallation(jobId) { progress -> _ui.update { it.reduce(progress) } }
                _ui.update { it.copy(running = false, report = report, tests = report.tests) }
            } catch (e: SmartControlException) {
                _ui.update { it.copy(running = false, error = e.forTechnician()) }
            } catch (e: CancellationException) {
                _ui.update { it.copy(running = false, error = "Stopped. The CloudBoxx keeps its previous configuration; run again to resume.") }
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
    is WorkflowProgress.Reconnecting -> copy(notices = notices + "Link lost (${p.reason}); reconnecting, attempt ${p.attempt}…")
    is WorkflowProgress.TestResult -> copy(tests = tests + p.result)
}

/** Android 12+: BLUETOOTH_SCAN/CONNECT; older: location (BLE scans need it there). */
private fun blePermissions(): Array<String> =
    if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
        arrayOf(Manifest.permission.BLUETOOTH_SCAN, Manifest.permission.BLUETOOTH_CONNECT)
    } else {
        arrayOf(Manifest.permission.ACCESS_FINE_LOCATION)
    }

@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun InstallationScreen(core: SmartControl, jobId: String, onComplete: () -> Unit, onBack: () -> Unit) {
    val vm: InstallationViewModel = viewModel { InstallationViewModel(core, jobId) }
    val ui by vm.ui.collectAsStateWithLifecycle()
    val context = LocalContext.current
    var denied by remember { mutableStateOf(false) }
    val askPermissions = rememberLauncherForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) { granted ->
        denied = granted.values.any { !it }
        if (!denied) vm.start()
    }
    val startWithPermissions = {
        val missing = blePermissions().filter {
            ContextCompat.checkSelfPermission(context, it) != PackageManager.PERMISSION_GRANTED
        }
        if (missing.isEmpty()) vm.start() else askPermissions.launch(missing.toTypedArray())
    }

    Column(Modifier.fillMaxSize()) {
        TopAppBar(
            title = { Text("Installation") },
            navigationIcon = { TextButton(onClick = { vm.stop(); onBack() }) { Text("Back") } },
        )
        Column(
            Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            if (denied) ErrorText("Bluetooth permission is needed to reach the CloudBoxx. Allow it in the system settings.")
            ui.steps.forEach { StepRow(it) }
            if (ui.configTotal > 0) {
                Text("Configuration: ${ui.configAcked} / ${ui.configTotal} bytes" + if (ui.resumedFrom > 0) " (resumed at ${ui.resumedFrom})" else "")
                LinearProgressIndicator(
                    progress = { ui.configAcked.toFloat() / ui.configTotal.toFloat() },
                    modifier = Modifier.fillMaxWidth(),
                )
            }
            ui.notices.forEach { Text(it, color = MaterialTheme.colorScheme.secondary) }
            if (ui.tests.isNotEmpty()) {
                HorizontalDivider()
                Text("Vehicle tests", style = MaterialTheme.typography.titleMedium)
                TestResultsTable(ui.tests)
            }
            ui.report?.let { report ->
                HorizontalDivider()
                Text("CloudBoxx ${report.device.serial}, firmware ${report.device.firmwareVersion}, ${report.reconnects} reconnect(s)")
                Text(if (report.allTestsPassed) "All tests passed." else "Some tests failed: see the hints, or complete the job as failed.")
            }
            ErrorText(ui.error)
            when {
                ui.running -> OutlinedButton(onClick = vm::stop, modifier = Modifier.fillMaxWidth()) { Text("Stop") }
                ui.report != null -> Button(onClick = onComplete, modifier = Modifier.fillMaxWidth()) { Text("Continue to completion") }
                else -> Button(onClick = startWithPermissions, modifier = Modifier.fillMaxWidth()) {
                    Text(if (ui.error == null) "Connect to the CloudBoxx" else "Try again")
                }
            }
        }
    }
}

@Composable
private fun StepRow(step: StepUi) {
    val mark = when (step.state) {
        StepState.WAITING -> "○"
        StepState.RUNNING -> "…"
        StepState.OK -> "✓"
        StepState.FAILED -> "✗"
    }
    Row(Modifier.fillMaxWidth(), horizontalArrangement = Arrangement.spacedBy(8.dp)) {
        Text(mark)
        Column {
            Text(step.step.name.lowercase().replace('_', ' ').replaceFirstChar(Char::uppercase))
            if (step.detail.isNotEmpty()) Text(step.detail, style = MaterialTheme.typography.bodySmall)
        }
    }
}

/** Test, result, measured value, and the hint of a failed test (what the technician can do). */
@Composable
fun TestResultsTable(results: List<VehicleTestResult>) {
    Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
        results.forEach { r ->
            Row(Modifier.fillMaxWidth()) {
                Text(r.test.replace('_', ' '), modifier = Modifier.weight(0.45f))
                Text(
                    if (r.passed) "passed" else "FAILED",
                    color = if (r.passed) MaterialTheme.colorScheme.primary else MaterialTheme.colorScheme.error,
                    modifier = Modifier.weight(0.2f),
                )
                Text(r.measured ?: "", modifier = Modifier.weight(0.35f))
            }
            if (!r.passed && r.hint != null) {
                Text("Hint: ${r.hint}", style = MaterialTheme.typography.bodySmall)
            }
        }
    }
}
