// Common.kt: small shared UI pieces: the offline banner, error text, a labelled value row, status names.
package com.invers.smartcontrol.app.ui

import androidx.compose.foundation.background
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import com.invers.smartcontrol.ffi.JobStatus
import com.invers.smartcontrol.ffi.SyncState
import com.invers.smartcontrol.ffi.SyncStatus

/**
 * Shown on every signed-in screen when the core is offline, has actions waiting for sync, or holds conflicts.
 * Everything here comes from the core's SyncStatus; nothing is counted in the app.
 */
@Composable
fun OfflineBanner(status: SyncStatus, onOpenConflicts: () -> Unit) {
    val pending = status.pendingActions.toLong()
    val conflicts = status.openConflicts.toLong()
    val offline = status.state == SyncState.OFFLINE
    if (!offline && pending == 0L && conflicts == 0L) return
    val text = buildString {
        if (offline) append("Offline. ")
        if (pending > 0) append(if (pending == 1L) "1 action waiting for sync" else "$pending actions waiting for sync")
        else if (offline) append("Your work is saved on this phone")
        if (status.state == SyncState.ERROR && status.lastError != null) append(" — ${status.lastError}")
    }
    Row(
        Modifier
            .fillMaxWidth()
            .background(if (offline) MaterialTheme.colorScheme.secondaryContainer else MaterialTheme.colorScheme.surfaceVariant)
            .padding(horizontal = 16.dp, vertical = 4.dp),
        verticalAlignment = Alignment.CenterVertically,
        horizontalArrangement = Arrangement.SpaceBetween,
    ) {
        Text(text, style = MaterialTheme.typography.bodySmall, modifier = Modifier.weight(1f))
        if (conflicts > 0) {
            TextButton(onClick = onOpenConflicts) { Text("$conflicts conflict${if (conflicts == 1L) "" else "s"}") }
        }
    }
}

/** The core's message for the technician (it already says what to do), in the error colour. */
@Composable
fun ErrorText(message: String?, modifier: Modifier = Modifier) {
    if (message == null) return
    Text(message, color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodyMedium, modifier = modifier)
}

/** "Label: value" for the specifications; an empty value reads as the technician's choice. */
@Composable
fun SpecRow(label: String, value: String?) {
    Row(Modifier.fillMaxWidth().padding(vertical = 2.dp)) {
        Text(label, style = MaterialTheme.typography.bodyMedium, modifier = Modifier.weight(0.45f))
        Text(
            value ?: "technician's choice",
            style = MaterialTheme.typography.bodyMedium,
            color = if (value == null) MaterialTheme.colorScheme.outline else MaterialTheme.colorScheme.onSurface,
            modifier = Modifier.weight(0.55f),
        )
    }
}

fun JobStatus.label(): String = when (this) {
    JobStatus.PENDING -> "Pending"
    JobStatus.ASSIGNED -> "Available"
    JobStatus.RUNNING -> "Running"
    JobStatus.SUCCEEDED -> "Succeeded"
    JobStatus.FAILED -> "Failed"
    JobStatus.UNKNOWN -> "Unknown (update the app)"
}

/** The message of a facade error, never empty. */
fun Throwable.forTechnician(): String = message?.takeIf { it.isNotBlank() } ?: javaClass.simpleName
