// ConflictsScreen.kt: work the cloud refused, kept until the technician dismisses or re-submits it (never dropped).
package com.invers.smartcontrol.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Card
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
import androidx.compose.ui.unit.dp
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.Conflict
import com.invers.smartcontrol.ffi.CoreEvent
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.mapNotNull
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch

/** Open conflicts' state, on [scope]. */
class ConflictsState(private val core: SmartControl, private val scope: CoroutineScope, private val strings: Strings) {
    private val _message = MutableStateFlow<String?>(null)
    val message: StateFlow<String?> = _message.asStateFlow()

    /**
     * Open conflicts, oldest first: read now and again on every core event that can change them (status, which
     * includes the end of a sync, the conflict count, jobs). A read that fails shows the core's message and keeps
     * the last list; the next event reads again (a `catch` around the whole flow would end it at the first
     * failure, and the list would then stay as it was while the banner kept counting).
     */
    val conflicts: StateFlow<List<Conflict>> = core.events
        .filter { it is CoreEvent.Status || it is CoreEvent.ConflictsChanged || it is CoreEvent.JobsChanged }
        .conflate()
        .mapNotNull {
            try {
                core.conflicts()
            } catch (e: SmartControlException) {
                _message.value = e.forTechnician()
                null
            }
        }
        .stateIn(scope, SharingStarted.Eagerly, emptyList())

    /** The technician has seen the refused work. */
    fun dismiss(conflict: Conflict) = act { core.dismissConflict(conflict.id); strings.get(Str.DISMISSED) }

    /** Queues the refused action again against the job as it is now (the core may refuse it again, with a reason). */
    fun resubmit(conflict: Conflict) = act {
        val queued = core.resubmitConflict(conflict.id)
        strings.get(Str.QUEUED_AGAIN, queued.action, queued.pendingActions.toLong())
    }

    private fun act(block: suspend () -> String) {
        scope.launch {
            _message.value = try {
                block()
            } catch (e: SmartControlException) {
                e.forTechnician()
            }
        }
    }
}

@Composable
fun ConflictsScreen(state: ConflictsState, onBack: () -> Unit) {
    val conflicts by state.conflicts.collectAsState()
    val message by state.message.collectAsState()

    Column(Modifier.fillMaxSize()) {
        TopAppBar(
            title = { Text(tr(Str.CONFLICTS)) },
            navigationIcon = { TextButton(onClick = onBack) { Text(tr(Str.BACK)) } },
        )
        message?.let { Text(it, modifier = Modifier.padding(horizontal = 16.dp)) }
        LazyColumn(
            Modifier.fillMaxSize().padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(12.dp),
        ) {
            if (conflicts.isEmpty()) item { Text(tr(Str.NO_CONFLICTS)) }
            items(conflicts, key = { it.id }) { c -> ConflictCard(c, onDismiss = { state.dismiss(c) }, onResubmit = { state.resubmit(c) }) }
        }
    }
}

@Composable
private fun ConflictCard(c: Conflict, onDismiss: () -> Unit, onResubmit: () -> Unit) {
    val strings = LocalStrings.current
    Card(Modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Text(strings.get(Str.CONFLICT_REFUSED, c.jobLabel, c.action), style = MaterialTheme.typography.titleMedium)
            Text(strings.get(Str.REASON, c.reason))
            Text(c.message)
            Text(
                strings.get(
                    Str.ON_CLOUD_NOW,
                    (c.serverStatus?.label(strings) ?: strings.get(Str.NOT_VISIBLE)) +
                        (c.serverAssigneeName?.let { ", " + strings.get(Str.HELD_BY, it) } ?: ""),
                ),
            )
            c.comment?.let { Text(strings.get(Str.YOUR_COMMENT, it)) }
            if (c.vehicleTests.isNotEmpty()) {
                Text(tr(Str.YOUR_TESTS), style = MaterialTheme.typography.titleSmall)
                TestResultsTable(c.vehicleTests)
            }
            Text(strings.get(Str.REFUSED_AT, dateText(c.createdAt)), style = MaterialTheme.typography.bodySmall)
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                val dismiss = "${strings.get(Str.DISMISS)} ${c.jobLabel}"
                val resubmit = "${strings.get(Str.RESUBMIT)} ${c.jobLabel}"
                OutlinedButton(onClick = onDismiss, modifier = Modifier.semantics { contentDescription = dismiss }) { Text(tr(Str.DISMISS)) }
                OutlinedButton(onClick = onResubmit, modifier = Modifier.semantics { contentDescription = resubmit }) { Text(tr(Str.RESUBMIT)) }
            }
        }
    }
}
