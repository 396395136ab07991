// ConflictsScreen.kt: work the cloud refused, kept until the technician dismisses or re-submits it (never dropped).
package com.invers.smartcontrol.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Card
import androidx.compose.material3.ExperimentalMaterial3Api
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
import com.invers.smartcontrol.ffi.Conflict
import com.invers.smartcontrol.ffi.CoreEvent
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch

class ConflictsViewModel(private val core: SmartControl) : ViewModel() {
    private val _message = MutableStateFlow<String?>(null)
    val message: StateFlow<String?> = _message.asStateFlow()

    /** Open conflicts, oldest first: read now and again whenever the core's conflict count or jobs change. */
    val conflicts: StateFlow<List<Conflict>> = core.events
        .filter { it is CoreEvent.Status || it is CoreEvent.ConflictsChanged || it is CoreEvent.JobsChanged }
        .map { core.conflicts() }
        .catch { e ->
            _message.value = e.forTechnician()
            emit(emptyList())
        }
        .stateIn(viewModelScope, SharingStarted.WhileSubscribed(5_000), emptyList())

    /** The technician has seen the refused work. */
    fun dismiss(conflict: Conflict) = act { core.dismissConflict(conflict.id); "Dismissed." }

    /** Queues the refused action again against the job as it is now (the core may refuse it again, with a reason). */
    fun resubmit(conflict: Conflict) = act {
        val queued = core.resubmitConflict(conflict.id)
        "Queued again: ${queued.action} (${queued.pendingActions} waiting for sync)."
    }

    private fun act(block: suspend () -> String) {
        viewModelScope.launch {
            _message.value = try {
                block()
            } catch (e: SmartControlException) {
                e.forTechnician()
            }
        }
    }
}

@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun ConflictsScreen(core: SmartControl, onBack: () -> Unit) {
    val vm: ConflictsViewModel = viewModel { ConflictsViewModel(core) }
    val conflicts by vm.conflicts.collectAsStateWithLifecycle()
    val message by vm.message.collectAsStateWithLifecycle()

    Column(Modifier.fillMaxSize()) {
        TopAppBar(
            title = { Text("Conflicts") },
            navigationIcon = { TextButton(onClick = onBack) { Text("Back") } },
        )
        message?.let { Text(it, modifier = Modifier.padding(horizontal = 16.dp)) }
        LazyColumn(
            Modifier.fillMaxSize().padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(12.dp),
        ) {
            if (conflicts.isEmpty()) item { Text("No conflicts: everything you did reached the cloud or is waiting for sync.") }
            items(conflicts, key = { it.id }) { c -> ConflictCard(c, onDismiss = { vm.dismiss(c) }, onResubmit = { vm.resubmit(c) }) }
        }
    }
}

@Composable
private fun ConflictCard(c: Conflict, onDismiss: () -> Unit, onResubmit: () -> Unit) {
    Card(Modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Text("${c.jobLabel}: ${c.action} refused", style = MaterialTheme.typography.titleMedium)
            Text("Reason: ${c.reason}")
            Text(c.message)
            Text(
                "On the cloud now: " + (c.serverStatus?.label() ?: "no longer visible to you") +
                    (c.serverAssigneeName?.let { ", held by $it" } ?: ""),
            )
            c.comment?.let { Text("Your comment: $it") }
            if (c.vehicleTests.isNotEmpty()) {
                Text("Your vehicle tests", style = MaterialTheme.typography.titleSmall)
                TestResultsTable(c.vehicleTests)
            }
            Text("Refused at ${c.createdAt}", style = MaterialTheme.typography.bodySmall)
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                OutlinedButton(onClick = onDismiss) { Text("Dismiss") }
                OutlinedButton(onClick = onResubmit) { Text("Resubmit") }
            }
        }
    }
}
