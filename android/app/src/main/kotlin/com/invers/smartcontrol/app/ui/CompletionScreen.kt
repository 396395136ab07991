// CompletionScreen.kt: finishing a job: SUCCEEDED (once the required tests passed) or FAILED with a required comment.
package com.invers.smartcontrol.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.ViewModel
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.compose.viewModel
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.JobAction
import com.invers.smartcontrol.ffi.JobDetail
import com.invers.smartcontrol.ffi.QueuedAction
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

data class CompletionUi(
    val detail: JobDetail? = null,
    val notes: String = "",
    val comment: String = "",
    val busy: Boolean = false,
    val error: String? = null,
    val done: QueuedAction? = null,
) {
    /** The core's rules allow SUCCEEDED now (required vehicle tests recorded and passed). */
    val canSucceed: Boolean
        get() = detail != null && !busy && JobAction.COMPLETE_SUCCEEDED in detail.availableActions
    /** FAILED needs a comment that says what went wrong: the button stays disabled until there is one. */
    val canFail: Boolean
        get() = detail != null && !busy && comment.isNotBlank()
}

class CompletionViewModel(private val core: SmartControl, private val jobId: String) : ViewModel() {
    private val _ui = MutableStateFlow(CompletionUi())
    val ui: StateFlow<CompletionUi> = _ui.asStateFlow()

    init {
        viewModelScope.launch {
            try {
                val detail = core.job(jobId)
                _ui.update { it.copy(detail = detail) }
            } catch (e: SmartControlException) {
                _ui.update { it.copy(error = e.forTechnician()) }
            }
        }
    }

    fun editNotes(value: String) = _ui.update { it.copy(notes = value, error = null) }
    fun editComment(value: String) = _ui.update { it.copy(comment = value, error = null) }

    fun succeed() = complete { core.completeSucceeded(jobId, _ui.value.notes.trim().ifEmpty { null }) }
    fun fail() = complete { core.completeFailed(jobId, _ui.value.comment.trim()) }

    private fun complete(action: suspend () -> QueuedAction) {
        if (_ui.value.busy) return
        _ui.update { it.copy(busy = true, error = null) }
        viewModelScope.launch {
            try {
                val queued = action()
                _ui.update { it.copy(busy = false, done = queued) }
            } catch (e: SmartControlException) {
                _ui.update { it.copy(busy = false, error = e.forTechnician()) }
            }
        }
    }
}

@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun CompletionScreen(core: SmartControl, jobId: String, onDone: () -> Unit, onBack: () -> Unit) {
    val vm: CompletionViewModel = viewModel { CompletionViewModel(core, jobId) }
    val ui by vm.ui.collectAsStateWithLifecycle()
    LaunchedEffect(ui.done) { if (ui.done != null) onDone() }

    Column(Modifier.fillMaxSize()) {
        TopAppBar(
            title = { Text("Complete ${ui.detail?.item?.label ?: "job"}") },
            navigationIcon = { TextButton(onClick = onBack) { Text("Back") } },
        )
        Column(
            Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            val detail = ui.detail
            if (detail != null && detail.vehicleTests.isNotEmpty()) {
                Text("Vehicle tests", style = MaterialTheme.typography.titleMedium)
                TestResultsTable(detail.vehicleTests)
            } else if (detail?.item?.vehicleTestsRequired == true) {
                Text("This job requires vehicle tests; none are recorded yet. Run the installation at the vehicle first.")
            }

            HorizontalDivider()
            Text("Succeeded", style = MaterialTheme.typography.titleMedium)
            OutlinedTextField(
                value = ui.notes,
                onValueChange = vm::editNotes,
                label = { Text("Notes (optional)") },
                modifier = Modifier.fillMaxWidth(),
            )
            Button(onClick = vm::succeed, enabled = ui.canSucceed, modifier = Modifier.fillMaxWidth()) {
                Text("Complete as SUCCEEDED")
            }
            if (detail != null && !ui.canSucceed && !ui.busy) {
                Text("Available once the vehicle tests passed.", style = MaterialTheme.typography.bodySmall)
            }

            HorizontalDivider()
            Text("Failed", style = MaterialTheme.typography.titleMedium)
            OutlinedTextField(
                value = ui.comment,
                onValueChange = vm::editComment,
                label = { Text("What went wrong (required)") },
                isError = ui.comment.isBlank(),
                modifier = Modifier.fillMaxWidth().heightIn(min = 96.dp),
            )
            OutlinedButton(onClick = vm::fail, enabled = ui.canFail, modifier = Modifier.fillMaxWidth()) {
                Text("Complete as FAILED")
            }
            ErrorText(ui.error)
        }
    }
}
