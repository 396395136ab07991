// CompletionScreen.kt: finishing a job: SUCCEEDED (only when the core allows it) or FAILED with a required comment.
package com.invers.smartcontrol.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.JobAction
import com.invers.smartcontrol.ffi.JobDetail
import com.invers.smartcontrol.ffi.QueuedAction
import kotlinx.coroutines.CoroutineScope
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
    /** The core's rules allow SUCCEEDED now (the required work is done). */
    val canSucceed: Boolean
        get() = detail != null && !busy && JobAction.COMPLETE_SUCCEEDED in detail.availableActions
    /** FAILED is offered while the core allows it; an empty comment is refused here, before the core. */
    val canFail: Boolean
        get() = detail != null && !busy && JobAction.COMPLETE_FAILED in detail.availableActions
}

/** The completion form's state, on [scope]. */
class CompletionState(
    private val core: SmartControl,
    private val scope: CoroutineScope,
    private val jobId: String,
    private val strings: Strings,
) {
    private val _ui = MutableStateFlow(CompletionUi())
    val ui: StateFlow<CompletionUi> = _ui.asStateFlow()

    init {
        scope.launch {
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

    /** FAILED without a comment is refused with a message (the core would refuse it too). */
    fun fail() {
        val comment = _ui.value.comment.trim()
        if (comment.isEmpty()) {
            _ui.update { it.copy(error = strings.get(Str.COMMENT_REQUIRED)) }
            return
        }
        complete { core.completeFailed(jobId, comment) }
    }

    private fun complete(action: suspend () -> QueuedAction) {
        if (_ui.value.busy) return
        _ui.update { it.copy(busy = true, error = null) }
        scope.launch {
            try {
                val queued = action()
                _ui.update { it.copy(busy = false, done = queued, detail = runCatching { core.job(jobId) }.getOrNull() ?: it.detail) }
            } catch (e: SmartControlException) {
                _ui.update { it.copy(busy = false, error = e.forTechnician()) }
            }
        }
    }
}

@Composable
fun CompletionScreen(state: CompletionState, onDone: () -> Unit, onBack: () -> Unit) {
    val ui by state.ui.collectAsState()
    val strings = LocalStrings.current

    Column(Modifier.fillMaxSize()) {
        TopAppBar(
            title = { Text(strings.get(Str.COMPLETE_TITLE, ui.detail?.item?.label ?: strings.get(Str.JOB))) },
            navigationIcon = { TextButton(onClick = onBack) { Text(tr(Str.BACK)) } },
        )
        Column(
            Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            val detail = ui.detail
            ui.done?.let { done ->
                Text(strings.get(Str.COMPLETED, done.status.label(strings)), style = MaterialTheme.typography.titleMedium)
                Button(onClick = onDone, modifier = Modifier.fillMaxWidth()) { Text(tr(Str.JOBS)) }
                return@Column
            }
            // Done: one line; otherwise the checklist says what is still missing before SUCCEEDED.
            if (detail != null) {
                if (detail.requiredWork.done) {
                    Text(tr(Str.REQUIRED_WORK_DONE), color = MaterialTheme.colorScheme.primary)
                } else {
                    RequiredWorkList(detail.requiredWork)
                }
            }
            if (detail?.item?.vehicleTestsRequired == true && detail.vehicleTests.isEmpty()) Text(tr(Str.NO_TESTS_YET))

            HorizontalDivider()
            SectionTitle(tr(Str.SUCCEEDED))
            OutlinedTextField(
                value = ui.notes,
                onValueChange = state::editNotes,
                label = { Text(tr(Str.NOTES)) },
                modifier = Modifier.fillMaxWidth(),
            )
            val succeed = tr(Str.COMPLETE_SUCCEEDED)
            Button(
                onClick = state::succeed,
                enabled = ui.canSucceed,
                modifier = Modifier.fillMaxWidth().semantics { contentDescription = succeed },
            ) { Text(succeed) }
            if (detail != null && !ui.canSucceed && !ui.busy) {
                Text(tr(Str.SUCCEEDED_LOCKED), style = MaterialTheme.typography.bodySmall)
            }

            HorizontalDivider()
            SectionTitle(tr(Str.FAILED_SECTION))
            OutlinedTextField(
                value = ui.comment,
                onValueChange = state::editComment,
                label = { Text(tr(Str.FAILURE_PROMPT)) },
                isError = ui.error != null && ui.comment.isBlank(),
                modifier = Modifier.fillMaxWidth().heightIn(min = 96.dp),
            )
            val fail = tr(Str.COMPLETE_FAILED)
            OutlinedButton(
                onClick = state::fail,
                enabled = ui.canFail,
                modifier = Modifier.fillMaxWidth().semantics { contentDescription = fail },
            ) { Text(fail) }
            ErrorText(ui.error)

            if (detail != null && detail.vehicleTests.isNotEmpty()) {
                HorizontalDivider()
                SectionTitle(tr(Str.VEHICLE_TESTS))
                TestResultsTable(detail.vehicleTests)
            }
        }
    }
}
