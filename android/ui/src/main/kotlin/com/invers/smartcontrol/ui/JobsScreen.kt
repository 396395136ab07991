// JobsScreen.kt: the job lists (Available / Mine / Done) with search, provider filter and refresh (pull or button).
package com.invers.smartcontrol.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.LazyRow
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.lazy.rememberLazyListState
import androidx.compose.material3.FilterChip
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.PrimaryTabRow
import androidx.compose.material3.Tab
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.material3.pulltorefresh.PullToRefreshBox
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.snapshotFlow
import androidx.compose.ui.Modifier
import androidx.compose.ui.semantics.Role
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.CoreEvent
import com.invers.smartcontrol.ffi.JobItem
import com.invers.smartcontrol.ffi.JobPage
import com.invers.smartcontrol.ffi.JobQuery
import com.invers.smartcontrol.ffi.JobView
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.FlowPreview
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.debounce
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.flatMapLatest
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.merge
import kotlinx.coroutines.flow.onEach
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch

/** The three lists of the technician's day, in tab order. */
val JOB_TABS = listOf(JobView.AVAILABLE to Str.TAB_AVAILABLE, JobView.MINE to Str.TAB_MINE, JobView.DONE to Str.TAB_DONE)

/** Rows read from the core per page of a job list. */
const val PAGE = 200

/** The job lists' state, on [scope]: every list is the core's query, re-read on every local change. */
@OptIn(ExperimentalCoroutinesApi::class, FlowPreview::class)
class JobsState(private val core: SmartControl, private val scope: CoroutineScope) {
    val view = MutableStateFlow(JobView.AVAILABLE)
    val search = MutableStateFlow("")
    /** Provider name to filter on (the core matches id or name, case-insensitively); null: all providers. */
    val provider = MutableStateFlow<String?>(null)

    private val _refreshing = MutableStateFlow(false)
    val refreshing: StateFlow<Boolean> = _refreshing.asStateFlow()
    private val _error = MutableStateFlow<String?>(null)
    val error: StateFlow<String?> = _error.asStateFlow()

    /** Asks for one page more of the current list ([showing] near the loaded end). */
    private val more = MutableSharedFlow<Unit>(extraBufferCapacity = 1, onBufferOverflow = BufferOverflow.DROP_OLDEST)

    /**
     * The current list as far as it is read: one page at first, the next page (by offset) appended whenever the
     * list shows a row near the loaded end, so 10,000 jobs scroll without being read up front; on every change
     * in the core the rows read so far are read again in one query (at least one page).
     */
    val page: StateFlow<JobPage> =
        // Typing is debounced; an empty search (the list as opened, or cleared) applies at once.
        combine(view, search.debounce { if (it.isEmpty()) 0L else 250L }, provider) { v, s, p ->
            JobQuery(view = v, search = s.ifBlank { null }, provider = p, limit = PAGE.toUInt())
        }
            .distinctUntilChanged()
            .flatMapLatest { query -> pages(query) }
            .stateIn(scope, SharingStarted.Eagerly, JobPage(emptyList(), 0uL))

    private fun pages(query: JobQuery): Flow<JobPage> = flow {
        var loaded = JobPage(emptyList(), 0uL)
        val changes = core.events.filter { it is CoreEvent.Status || it is CoreEvent.JobsChanged }.map { false }.conflate()
        merge(changes, more.map { true }).collect { grow ->
            val rows = loaded.jobs
            loaded = if (!grow) {
                core.jobs(query.copy(limit = maxOf(PAGE, rows.size).toUInt()))
            } else if (rows.size.toULong() < loaded.total) {
                val next = core.jobs(query.copy(offset = rows.size.toUInt(), limit = PAGE.toUInt()))
                // A change between two reads may shift rows: never show a job twice (the change's re-read follows).
                val ids = rows.mapTo(HashSet(rows.size * 2)) { it.id }
                JobPage(rows + next.jobs.filter { it.id !in ids }, next.total)
            } else {
                loaded
            }
            emit(loaded)
        }
    }
        .distinctUntilChanged()
        .catch { e ->
            _error.value = e.forTechnician()
            emit(JobPage(emptyList(), 0uL))
        }

    val jobs: StateFlow<List<JobItem>> = page.map { it.jobs }.stateIn(scope, SharingStarted.Eagerly, emptyList())

    /** Index of the last row on screen (what [showing] was told last). */
    @Volatile
    var lastShown: Int = 0
        private set

    /** The list shows row [index]: read one page more when it is within half a page of the loaded end. */
    fun showing(index: Int) {
        lastShown = index
        val loaded = page.value
        if (index >= loaded.jobs.size - PAGE / 2 && loaded.jobs.size.toULong() < loaded.total) more.tryEmit(Unit)
    }

    /** Providers of the jobs in the current view (for the filter chips), from the same core query without the filter. */
    val providers: StateFlow<List<String>> =
        view.flatMapLatest { v -> core.jobList(JobQuery(view = v, limit = 1_000u)) }
            .map { items -> items.map { it.providerName }.distinct().sorted() }
            .catch { emit(emptyList()) }
            .onEach { names ->
                val chosen = provider.value
                if (chosen != null && chosen !in names) provider.value = null
            }
            .stateIn(scope, SharingStarted.Eagerly, emptyList())

    /** Refresh: one sync now (background sync keeps running regardless). */
    fun refresh() {
        if (_refreshing.value) return
        _refreshing.value = true
        scope.launch {
            try {
                core.sync()
                _error.value = null
            } catch (e: SmartControlException) {
                _error.value = e.forTechnician()
            } finally {
                _refreshing.value = false
            }
        }
    }
}

@Composable
fun JobsScreen(state: JobsState, onOpenJob: (String) -> Unit, onOpenConflicts: () -> Unit, onLogout: () -> Unit) {
    val view by state.view.collectAsState()
    val search by state.search.collectAsState()
    val provider by state.provider.collectAsState()
    val providers by state.providers.collectAsState()
    val jobs by state.jobs.collectAsState()
    val refreshing by state.refreshing.collectAsState()
    val error by state.error.collectAsState()
    val strings = LocalStrings.current

    Column(Modifier.fillMaxSize()) {
        TopAppBar(
            title = { Text(tr(Str.JOBS)) },
            actions = {
                TextButton(onClick = state::refresh, enabled = !refreshing) { Text(tr(Str.REFRESH)) }
                TextButton(onClick = onOpenConflicts) { Text(tr(Str.CONFLICTS)) }
                TextButton(onClick = onLogout) { Text(tr(Str.LOG_OUT)) }
            },
        )
        PrimaryTabRow(selectedTabIndex = JOB_TABS.indexOfFirst { it.first == view }.coerceAtLeast(0)) {
            JOB_TABS.forEach { (tab, title) ->
                Tab(selected = tab == view, onClick = { state.view.value = tab }, text = { Text(tr(title)) })
            }
        }
        OutlinedTextField(
            value = search,
            onValueChange = { state.search.value = it },
            label = { Text(tr(Str.SEARCH)) },
            singleLine = true,
            modifier = Modifier.fillMaxWidth().padding(horizontal = 16.dp, vertical = 8.dp),
        )
        if (providers.size > 1 || provider != null) {
            LazyRow(
                Modifier.padding(horizontal = 16.dp),
                horizontalArrangement = Arrangement.spacedBy(8.dp),
            ) {
                item {
                    FilterChip(selected = provider == null, onClick = { state.provider.value = null }, label = { Text(tr(Str.ALL_PROVIDERS)) })
                }
                items(providers) { name ->
                    FilterChip(selected = provider == name, onClick = { state.provider.value = name }, label = { Text(name) })
                }
            }
        }
        ErrorText(error, Modifier.padding(horizontal = 16.dp))
        val listState = rememberLazyListState()
        LaunchedEffect(state, listState) {
            snapshotFlow { listState.layoutInfo.visibleItemsInfo.lastOrNull()?.index ?: 0 }
                .distinctUntilChanged()
                .collect(state::showing)
        }
        PullToRefreshBox(isRefreshing = refreshing, onRefresh = state::refresh, modifier = Modifier.fillMaxSize()) {
            LazyColumn(state = listState, modifier = Modifier.fillMaxSize().semantics { contentDescription = strings.get(Str.JOBS) }) {
                if (jobs.isEmpty()) {
                    item {
                        Text(tr(Str.NO_JOBS), style = MaterialTheme.typography.bodyMedium, modifier = Modifier.padding(16.dp))
                    }
                }
                items(jobs, key = { it.id }, contentType = { "job" }) { job ->
                    JobRow(job, strings, onClick = { onOpenJob(job.id) })
                    HorizontalDivider()
                }
            }
        }
    }
}

@Composable
private fun JobRow(job: JobItem, strings: Strings, onClick: () -> Unit) {
    val dates = LocalDateText.current
    ListItem(
        modifier = Modifier
            .clickable(role = Role.Button, onClickLabel = job.label, onClick = onClick)
            .semantics { contentDescription = "${job.label}, ${job.status.label(strings)}" },
        headlineContent = { Text(job.label) },
        supportingContent = {
            Text(
                listOfNotNull(
                    job.vehicleModel,
                    "${job.providerName} · ${job.fleetName}",
                    job.plannedServiceDate?.let { strings.get(Str.PLANNED, dates.show(it)) },
                    job.assigneeName?.let { strings.get(Str.HELD_BY, it) },
                ).joinToString("\n"),
            )
        },
        trailingContent = {
            Column {
                Text(job.status.label(strings), style = MaterialTheme.typography.labelMedium)
                if (job.pendingActions > 0u) {
                    Text(tr(Str.WAITING_FOR_SYNC), style = MaterialTheme.typography.labelSmall, color = MaterialTheme.colorScheme.secondary)
                }
            }
        },
    )
}
