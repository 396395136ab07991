// Common.kt: shared UI pieces: theme, the offline banner, error text, a labelled value row, the test table, status names.
package com.invers.smartcontrol.ui

import androidx.compose.foundation.background
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.darkColorScheme
import androidx.compose.material3.lightColorScheme
import androidx.compose.runtime.Composable
import androidx.compose.runtime.CompositionLocalProvider
import androidx.compose.runtime.staticCompositionLocalOf
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.heading
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import com.invers.smartcontrol.ffi.JobStatus
import com.invers.smartcontrol.ffi.SyncState
import com.invers.smartcontrol.ffi.SyncStatus
import com.invers.smartcontrol.ffi.VehicleTestResult

private val Teal = Color(0xFF00696B)

/**
 * How dates and timestamps from the core (ISO 8601 text: `2026-12-01`, `2026-12-01T18:04:05Z`) are shown. The app
 * shows them as the core gives them; the screen renders in docs/screens use a fixed clock
 * (`UiTestSupport.FixedDates`) so a render does not change from one day to the next.
 */
fun interface DateText {
    fun show(iso: String): String
}

val LocalDateText = staticCompositionLocalOf { DateText { it } }

/** [iso] as the current [DateText] shows it. */
@Composable
fun dateText(iso: String): String = LocalDateText.current.show(iso)

/** Material 3 in SmartControl's colours, light or dark, with the strings of [strings]. */
@Composable
fun SmartControlTheme(dark: Boolean, strings: Strings = stringsFor(), content: @Composable () -> Unit) {
    val colors = if (dark) {
        darkColorScheme(primary = Color(0xFF4CDADA), secondary = Color(0xFFB0CCCB))
    } else {
        lightColorScheme(primary = Teal, secondary = Color(0xFF4A6363))
    }
    CompositionLocalProvider(LocalStrings provides strings) {
        MaterialTheme(colorScheme = colors, content = content)
    }
}

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
    val strings = LocalStrings.current
    val text = buildString {
        if (offline) append(strings.get(Str.OFFLINE)).append(' ')
        if (pending > 0) append(if (pending == 1L) strings.get(Str.PENDING_ONE) else strings.get(Str.PENDING_MANY, pending))
        else if (offline) append(strings.get(Str.SAVED_ON_PHONE))
        if (status.state == SyncState.ERROR && status.lastError != null) append(" — ${status.lastError}")
    }
    Row(
        Modifier
            .fillMaxWidth()
            .background(if (offline) MaterialTheme.colorScheme.secondaryContainer else MaterialTheme.colorScheme.surfaceVariant)
            .padding(horizontal = 16.dp, vertical = 4.dp)
            .semantics(mergeDescendants = true) { contentDescription = "sync-banner: $text" },
        verticalAlignment = Alignment.CenterVertically,
        horizontalArrangement = Arrangement.SpaceBetween,
    ) {
        Text(text, style = MaterialTheme.typography.bodySmall, modifier = Modifier.weight(1f))
        if (conflicts > 0) {
            TextButton(onClick = onOpenConflicts) { Text(strings.get(Str.CONFLICT_COUNT, conflicts)) }
        }
    }
}

/** The core's message for the technician (it already says what to do), in the error colour. */
@Composable
fun ErrorText(message: String?, modifier: Modifier = Modifier) {
    if (message == null) return
    // Through the date hook too: the core's messages can carry timestamps (and, in tests, the cloud's address).
    Text(LocalDateText.current.show(message), color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodyMedium, modifier = modifier)
}

/** A section title, marked as a heading for screen readers. */
@Composable
fun SectionTitle(text: String) {
    Text(text, style = MaterialTheme.typography.titleMedium, modifier = Modifier.semantics { heading() })
}

/** "Label: value" for the specifications; an empty value reads as the technician's choice. */
@Composable
fun SpecRow(label: String, value: String?, enteredOnSite: Boolean = false) {
    Row(Modifier.fillMaxWidth().padding(vertical = 2.dp).semantics(mergeDescendants = true) {}) {
        Text(
            if (enteredOnSite) tr(Str.ENTERED_ON_SITE, label) else label,
            style = MaterialTheme.typography.bodyMedium,
            modifier = Modifier.weight(0.45f),
        )
        Text(
            value ?: tr(Str.TECHNICIANS_CHOICE),
            style = MaterialTheme.typography.bodyMedium,
            color = if (value == null) MaterialTheme.colorScheme.outline else MaterialTheme.colorScheme.onSurface,
            modifier = Modifier.weight(0.55f),
        )
    }
}

/** Test, result, measured value, and the hint of a failed test (what the technician can do). */
@Composable
fun TestResultsTable(results: List<VehicleTestResult>) {
    Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
        results.forEach { r ->
            Row(Modifier.fillMaxWidth().semantics(mergeDescendants = true) {}) {
                Text(r.test.replace('_', ' '), modifier = Modifier.weight(0.45f))
                Text(
                    if (r.passed) tr(Str.PASSED) else tr(Str.FAILED),
                    color = if (r.passed) MaterialTheme.colorScheme.primary else MaterialTheme.colorScheme.error,
                    modifier = Modifier.weight(0.2f),
                )
                Text(r.measured ?: "", modifier = Modifier.weight(0.35f))
            }
            if (!r.passed && r.hint != null) {
                Text(tr(Str.HINT, r.hint), style = MaterialTheme.typography.bodySmall)
            }
        }
    }
}

fun JobStatus.label(strings: Strings): String = strings.get(
    when (this) {
        JobStatus.PENDING -> Str.STATUS_PENDING
        JobStatus.ASSIGNED -> Str.STATUS_ASSIGNED
        JobStatus.RUNNING -> Str.STATUS_RUNNING
        JobStatus.SUCCEEDED -> Str.STATUS_SUCCEEDED
        JobStatus.FAILED -> Str.STATUS_FAILED
        JobStatus.UNKNOWN -> Str.STATUS_UNKNOWN
    },
)

/** The message of a facade error, never empty. */
fun Throwable.forTechnician(): String = message?.takeIf { it.isNotBlank() } ?: javaClass.simpleName
