// JobDetailScreen.kt: one job: the provider's specifications, its state, queued actions, and the actions it allows.
package com.invers.smartcontrol.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.ViewModel
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.compose.viewModel
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.CoreEvent
import com.invers.smartcontrol.ffi.JobDetail
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch

/** What the detail screen shows: the job (null while loading or gone), with the actions the core allows. */
data class JobDetailUi(val detail: JobDetail? = null)

class JobDetailViewModel(private val core: SmartControl, private val jobId: String) : ViewModel() {
    private val _message = MutableStateFlow<String?>(null)
    val message: StateFlow<String?> = _message.asStateFlow()
    private val _busy = MutableStateFlow(false)
    val busy: StateFlow<Boolean> = _busy.asStateFlow()

    /** The job, read now and again whenever the core says this job (or possibly any job) changed. */
    val ui: StateFlow<JobDetailUi> = core.events
        .filter { it is CoreEvent.Status || (it is CoreEvent.JobsChanged && (it.jobIds.isEmpty() || jobId in it.jobIds)) }
        .map { JobDetailUi(detail = core.job(jobId)) }
        .catch { e ->
            _message.value = e.forTechnician()
            emit(JobDetailUi())
        }
        .stateIn(viewModelScope, SharingStarted.WhileSubscribed(5_000), JobDetailUi())

    /** Runs one action through the core (durable locally before it returns, synced later). */
    fun perform(action: DetailButton) {
        if (_busy.value) return
        _busy.value = true
        viewModelScope.launch {
            try {
                val queued = when (action) {
                    DetailButton.CLAIM -> core.claim(jobId)
                    DetailButton.TAKE_OVER -> core.takeOver(jobId)
                    DetailButton.WITHDRAW -> core.withdraw(jobId)
                    DetailButton.START_INSTALLATION -> core.startInstallation(jobId)
                    DetailButton.INSTALL_AT_VEHICLE, DetailButton.COMPLETE -> null // navigation, not a core action
                }
                _message.value = queued?.let { "Saved on this phone; ${it.pendingActions} action(s) waiting for sync." }
            } catch (e: SmartControlException) {
                _message.value = e.forTechnician()
            } finally {
                _busy.value = false
            }
        }
    }
}

@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun JobDetailScreen(core: SmartControl, jobId: String, onInstall: () -> Unit, onComplete: () -> Unit, onBack: () -> Unit) {
    val vm: JobDetailViewModel = viewModel { JobDetailViewModel(core, jobId) }
    val ui by vm.ui.collectAsStateWithLifecycle()
    val message by vm.message.collectAsStateWithLifecycle()
    val busy by vm.busy.collectAsStateWithLifecycle()
    val detail = ui.detail

    Column(Modifier.fillMaxSize()) {
        TopAppBar(
            title = { Text(detail?.item?.label ?: "Job") },
            navigationIcon = { TextButton(onClick = onBack) { Text("Back") } },
        )
        Column(
            Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            if (message != null) Text(message.orEmpty(), style = MaterialTheme.typography.bodyMedium)
            if (detail == null) {
                Text("Loading…")
                return@Column
            }
            val item = detail.item
            Text("${item.kind.name.lowercase().replaceFirstChar(Char::uppercase)} · ${item.status.label()}", style = MaterialTheme.typography.titleMedium)
            Text("${item.providerName} · ${item.fleetName}")
            item.assigneeName?.let { Text("Held by $it") }
            if (item.vehicleTestsRequired) Text("Vehicle tests are required before it can succeed.")
            detail.failureComment?.let { Text("Failure comment: $it") }

            OfferedActions(detailButtons(detail), busy) { action ->
                when (action) {
                    DetailButton.INSTALL_AT_VEHICLE -> onInstall()
                    DetailButton.COMPLETE -> onComplete()
                    else -> vm.perform(action)
                }
            }

            HorizontalDivider()
            Text("Provider's specifications", style = MaterialTheme.typography.titleMedium)
            val spec = detail.specifications
            SpecRow("VIN", spec.vin)
            SpecRow("License plate", spec.licensePlate)
            SpecRow("Name", spec.customName)
            SpecRow("Vehicle model", spec.vehicleModelName ?: spec.vehicleModelId)
            SpecRow("Installation variant", spec.installationVariant)
            SpecRow("Central lock connection", spec.centralLockConnectionType)
            SpecRow("Fuel", spec.fuelType)
            SpecRow("Hardware", spec.hardware)
            SpecRow("CloudBoxx serial", spec.cloudboxxSerial)
            SpecRow("Configuration preset", spec.cloudboxxConfigPreset)
            SpecRow("Planned service date", spec.plannedServiceDate)
            spec.masterData.forEach { SpecRow(it.key, it.value) }
            spec.instructions?.let {
                Text("Instructions", style = MaterialTheme.typography.titleSmall)
                Text(it)
            }

            if (detail.vehicleTests.isNotEmpty()) {
                HorizontalDivider()
                Text("Vehicle tests on this phone", style = MaterialTheme.typography.titleMedium)
                TestResultsTable(detail.vehicleTests)
            }
            if (detail.pending.isNotEmpty()) {
                HorizontalDivider()
                Text("Waiting for sync", style = MaterialTheme.typography.titleMedium)
                detail.pending.forEach { p ->
                    Text("${p.action} at ${p.performedAt}" + (p.lastError?.let { " — last try: $it" } ?: ""))
                }
            }
        }
    }
}

@Composable
private fun OfferedActions(actions: List<DetailButton>, busy: Boolean, onAction: (DetailButton) -> Unit) {
    actions.forEachIndexed { index, action ->
        if (index == 0) {
            Button(onClick = { onAction(action) }, enabled = !busy, modifier = Modifier.fillMaxWidth()) { Text(action.title) }
        } else {
            OutlinedButton(onClick = { onAction(action) }, enabled = !busy, modifier = Modifier.fillMaxWidth()) { Text(action.title) }
        }
    }
}
