// JobsScreen.kt: the job lists (Available / Mine / Done) with search, provider filter and pull-to-refresh sync.
package com.invers.smartcontrol.app.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.LazyRow
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.ExperimentalMaterial3Api
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
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.ViewModel
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.compose.viewModel
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.JobItem
import com.invers.smartcontrol.ffi.JobQuery
import com.invers.smartcontrol.ffi.JobView
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.FlowPreview
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.debounce
import kotlinx.coroutines.flow.flatMapLatest
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.onEach
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch

/** The three lists of the technician's day, in tab order. */
val JOB_TABS = listOf(JobView.AVAILABLE to "Available", JobView.MINE to "Mine", JobView.DONE to "Done")

@OptIn(ExperimentalCoroutinesApi::class, FlowPreview::class)
class JobsViewModel(private val core: SmartControl) : ViewModel() {
    val view = MutableStateFlow(JobView.AVAILABLE)
    val search = MutableStateFlow("")
    /** Provider name to filter on (the core matches id or name, case-insensitively); null: all providers. */
    val provider = MutableStateFlow<String?>(null)

    private val _refreshing = MutableStateFlow(false)
    val refreshing: StateFlow<Boolean> = _refreshing.asStateFlow()
    private val _error = MutableStateFlow<String?>(null)
    val error: StateFlow<String?> = _error.asStateFlow()

    /** The list on screen: the core's query (view, search, provider), re-read on every local change. */
    val jobs: StateFlow<List<JobItem>> =
        combine(view, search.debounce(250), provider) { v, s, p -> JobQuery(view = v, search = s.ifBlank { null }, provider = p) }
            .flatMapLatest { query ->
                core.jobList(query).catch { e ->
                    _error.value = e.forTechnician()
                    emit(emptyList())
                }
            }
            .stateIn(viewModelScope, SharingStarted.WhileSubscribed(5_000), emptyList())

    /** Providers of the jobs in the current view (for the filter chips), from the same core query without the filter. */
    val providers: StateFlow<List<String>> =
        view.flatMapLatest { v -> core.jobList(JobQuery(view = v, limit = 1_000u)) }
            .map { items -> items.map { it.providerName }.distinct().sorted() }
            .catch { emit(emptyList()) }
            .onEach { names ->
                val chosen = provider.value
                if (chosen != null && chosen !in names) provider.value = null
            }
            .stateIn(viewModelScope, SharingStarted.WhileSubscribed(5_000), emptyList())

    /** Pull-to-refresh: one sync now (background sync keeps running regardless). */
    fun refresh() {
        if (_refreshing.value) return
        _refreshing.value = true
        viewModelScope.launch {
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

@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun JobsScreen(core: SmartControl, onOpenJob: (String) -> Unit, onOpenConflicts: () -> Unit, onLogout: () -> Unit) {
    val vm: JobsViewModel = viewModel { JobsViewModel(core) }
    val view by vm.view.collectAsStateWithLifecycle()
    val search by vm.search.collectAsStateWithLifecycle()
    val provider by vm.provider.collectAsStateWithLifecycle()
    val providers by vm.providers.collectAsStateWithLifecycle()
    val jobs by vm.jobs.collectAsStateWithLifecycle()
    val refreshing by vm.refreshing.collectAsStateWithLifecycle()
    val error by vm.error.collectAsStateWithLifecycle()

    Column(Modifier.fillMaxSize()) {
        TopAppBar(
            title = { Text("Jobs") },
            actions = {
                TextButton(onClick = onOpenConflicts) { Text("Conflicts") }
                TextButton(onClick = onLogout) { Text("Log out") }
            },
        )
        PrimaryTabRow(selectedTabIndex = JOB_TABS.indexOfFirst { it.first == view }.coerceAtLeast(0)) {
            JOB_TABS.forEach { (tab, title) ->
                Tab(selected = tab == view, onClick = { vm.view.value = tab }, text = { Text(title) })
            }
        }
        OutlinedTextField(
            value = search,
            onValueChange = { vm.search.value = it },
            label = { Text("Search plate, VIN, name, provider, fleet") },
            singleLine = true,
            modifier = Modifier.fillMaxWidth().padding(horizontal = 16.dp, vertical = 8.dp),
        )
        if (providers.size > 1 || provider != null) {
            LazyRow(
                Modifier.padding(horizontal = 16.dp),
                horizontalArrangement = Arrangement.spacedBy(8.dp),
            ) {
                item { FilterChip(selected = provider == null, onClick = { vm.provider.value = null }, label = { Text("All providers") }) }
                items(providers) { name ->
                    FilterChip(selected = provider == name, onClick = { vm.provider.value = name }, label = { Text(name) })
                }
            }
        }
        ErrorText(error, Modifier.padding(horizontal = 16.dp))
        PullToRefreshBox(isRefreshing = refreshing, onRefresh = vm::refresh, modifier = Modifier.fillMaxSize()) {
            LazyColumn(Modifier.fillMaxSize()) {
                if (jobs.isEmpty()) {
                    item {
                        Text(
                            "No jobs here. Pull down to sync.",
                            style = MaterialTheme.typography.bodyMedium,
                            modifier = Modifier.padding(16.dp),
                        )
                    }
                }
                items(jobs, key = { it.id }) { job ->
                    JobRow(job, onClick = { onOpenJob(job.id) })
                    HorizontalDivider()
                }
            }
        }
    }
}

@Composable
private fun JobRow(job: JobItem, onClick: () -> Unit) {
    ListItem(
        modifier = Modifier.clickable(onClick = onClick),
        headlineContent = { Text(job.label) },
        supportingContent = {
            Text(
                listOfNotNull(
                    job.vehicleModel,
                    "${job.providerName} · ${job.fleetName}",
                    job.plannedServiceDate?.let { "planned $it" },
                    job.assigneeName?.let { "held by $it" },
                ).joinToString("\n"),
            )
        },
        trailingContent = {
            Column {
                Text(job.status.label(), style = MaterialTheme.typography.labelMedium)
                if (job.pendingActions > 0u) {
                    Text("waiting for sync", style = MaterialTheme.typography.labelSmall, color = MaterialTheme.colorScheme.secondary)
                }
            }
        },
    )
}
