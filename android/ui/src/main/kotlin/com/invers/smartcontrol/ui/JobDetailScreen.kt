// JobDetailScreen.kt: one job: specifications, state, required-work checklist, site data entry, queued actions, and the actions the core allows.
package com.invers.smartcontrol.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
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
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.semantics.stateDescription
import androidx.compose.ui.unit.dp
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.CoreEvent
import com.invers.smartcontrol.ffi.JobAction
import com.invers.smartcontrol.ffi.JobDetail
import com.invers.smartcontrol.ffi.MasterDataEntry
import com.invers.smartcontrol.ffi.RequiredWork
import com.invers.smartcontrol.ffi.SiteEntry
import com.invers.smartcontrol.ffi.VehicleModel
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

/** A button on the job detail screen. */
enum class DetailButton(val title: Str) {
    CLAIM(Str.ACTION_CLAIM),
    TAKE_OVER(Str.ACTION_TAKE_OVER),
    START_INSTALLATION(Str.ACTION_START),
    INSTALL_AT_VEHICLE(Str.ACTION_INSTALL),
    COMPLETE(Str.ACTION_COMPLETE),
    WITHDRAW(Str.ACTION_WITHDRAW),
}

/**
 * The buttons for [detail]. The core decides which actions the signed-in technician may take
 * (`JobDetail.availableActions`); this only maps them to buttons. The vehicle workflow and the completion
 * screen are offered exactly when the job can be completed (it is the technician's running job).
 */
fun detailButtons(detail: JobDetail): List<DetailButton> {
    val allowed = detail.availableActions
    return buildList {
        if (JobAction.CLAIM in allowed) add(DetailButton.CLAIM)
        if (JobAction.TAKE_OVER in allowed) add(DetailButton.TAKE_OVER)
        if (JobAction.START_INSTALLATION in allowed) add(DetailButton.START_INSTALLATION)
        if (JobAction.COMPLETE_FAILED in allowed) {
            add(DetailButton.INSTALL_AT_VEHICLE)
            add(DetailButton.COMPLETE)
        }
        if (JobAction.WITHDRAW in allowed) add(DetailButton.WITHDRAW)
    }
}

/** The site data form: typed or scanned text; the core validates and normalises it. */
data class SiteForm(
    val vin: String = "",
    val vinScan: String = "",
    val plate: String = "",
    val model: String? = null,
    val lockType: String? = null,
    val serial: String = "",
    val serialScan: String = "",
    /** Master data rows (key, value) the technician adds; rows with a blank key are not sent. */
    val masterData: List<Pair<String, String>> = emptyList(),
) {
    fun toEntry() = SiteEntry(
        vin = vin.trim().ifEmpty { null },
        vinScan = vinScan.ifBlank { null },
        licensePlate = plate.trim().ifEmpty { null },
        vehicleModel = model,
        centralLockConnectionType = lockType,
        cloudboxxSerial = serial.trim().ifEmpty { null },
        cloudboxxLabelScan = serialScan.ifBlank { null },
        masterData = masterData.filter { it.first.isNotBlank() }.map { (k, v) -> MasterDataEntry(k.trim(), v) },
    )
    val isEmpty: Boolean get() = copy(masterData = masterData.filter { it.first.isNotBlank() }) == SiteForm()

    fun withMasterRow(index: Int, key: String = masterData[index].first, value: String = masterData[index].second) =
        copy(masterData = masterData.mapIndexed { i, row -> if (i == index) key to value else row })
}

/** One job's state, on [scope]: the detail re-read whenever the core says this job changed. */
class JobDetailState(
    private val core: SmartControl,
    private val scope: CoroutineScope,
    private val jobId: String,
    private val strings: Strings,
) {
    private val _message = MutableStateFlow<String?>(null)
    val message: StateFlow<String?> = _message.asStateFlow()
    private val _busy = MutableStateFlow(false)
    val busy: StateFlow<Boolean> = _busy.asStateFlow()
    private val _form = MutableStateFlow(SiteForm())
    val form: StateFlow<SiteForm> = _form.asStateFlow()
    private val _formError = MutableStateFlow<String?>(null)
    val formError: StateFlow<String?> = _formError.asStateFlow()
    private val _models = MutableStateFlow<List<VehicleModel>>(emptyList())
    /** The synced vehicle catalogue, for the model choice. */
    val models: StateFlow<List<VehicleModel>> = _models.asStateFlow()

    val detail: StateFlow<JobDetail?> = core.events
        .filter { it is CoreEvent.Status || (it is CoreEvent.JobsChanged && (it.jobIds.isEmpty() || jobId in it.jobIds)) }
        .map<CoreEvent, JobDetail?> { core.job(jobId) }
        .catch { e ->
            _message.value = e.forTechnician()
            emit(null)
        }
        .stateIn(scope, SharingStarted.Eagerly, null)

    init {
        scope.launch {
            _models.value = try {
                core.vehicleModels()
            } catch (e: SmartControlException) {
                emptyList()
            }
        }
    }

    /** Runs one action through the core (durable locally before it returns, synced later). */
    fun perform(action: DetailButton) = act {
        val queued = when (action) {
            DetailButton.CLAIM -> core.claim(jobId)
            DetailButton.TAKE_OVER -> core.takeOver(jobId)
            DetailButton.WITHDRAW -> core.withdraw(jobId)
            DetailButton.START_INSTALLATION -> core.startInstallation(jobId)
            DetailButton.INSTALL_AT_VEHICLE, DetailButton.COMPLETE -> null // navigation, not a core action
        }
        _message.value = queued?.let { strings.get(Str.SAVED_PENDING, it.pendingActions.toLong()) }
    }

    fun edit(transform: SiteForm.() -> SiteForm) {
        _form.update { it.transform() }
        _formError.value = null
    }

    /** Sends the form to the core; an invalid field keeps the form as typed, with the core's message. */
    fun saveSiteData() {
        val form = _form.value
        if (form.isEmpty) {
            _formError.value = strings.get(Str.NOTHING_TO_SAVE)
            return
        }
        act {
            try {
                val queued = core.enterSiteData(jobId, form.toEntry())
                _form.value = SiteForm()
                _formError.value = null
                _message.value = strings.get(Str.SITE_DATA_SAVED, queued.pendingActions.toLong())
            } catch (e: SmartControlException) {
                _formError.value = e.forTechnician()
            }
        }
    }

    private fun act(block: suspend () -> Unit) {
        if (_busy.value) return
        _busy.value = true
        scope.launch {
            try {
                block()
            } catch (e: SmartControlException) {
                _message.value = e.forTechnician()
            } finally {
                _busy.value = false
            }
        }
    }
}

@Composable
fun JobDetailScreen(state: JobDetailState, onInstall: () -> Unit, onComplete: () -> Unit, onBack: () -> Unit) {
    val detail by state.detail.collectAsState()
    val message by state.message.collectAsState()
    val busy by state.busy.collectAsState()
    val strings = LocalStrings.current

    Column(Modifier.fillMaxSize()) {
        TopAppBar(
            title = { Text(detail?.item?.label ?: tr(Str.JOB)) },
            navigationIcon = { TextButton(onClick = onBack) { Text(tr(Str.BACK)) } },
        )
        Column(
            Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(16.dp),
            verticalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            if (message != null) Text(message.orEmpty(), style = MaterialTheme.typography.bodyMedium)
            val d = detail
            if (d == null) {
                Text(tr(Str.LOADING))
                return@Column
            }
            val item = d.item
            Text(
                "${item.kind.name.lowercase().replaceFirstChar(Char::uppercase)} · ${item.status.label(strings)}",
                style = MaterialTheme.typography.titleMedium,
            )
            Text("${item.providerName} · ${item.fleetName}")
            item.assigneeName?.let { Text(strings.get(Str.HELD_BY, it)) }
            if (item.vehicleTestsRequired) Text(tr(Str.VEHICLE_TESTS_REQUIRED))
            d.failureComment?.let { Text(strings.get(Str.FAILURE_COMMENT, it)) }

            OfferedActions(detailButtons(d), busy) { action ->
                when (action) {
                    DetailButton.INSTALL_AT_VEHICLE -> onInstall()
                    DetailButton.COMPLETE -> onComplete()
                    else -> state.perform(action)
                }
            }

            // What the provider left open comes first: it is what the technician does next on site.
            if (JobAction.ENTER_SITE_DATA in d.availableActions) {
                HorizontalDivider()
                SiteDataForm(state, d, busy)
            }

            HorizontalDivider()
            RequiredWorkList(d.requiredWork)

            HorizontalDivider()
            SectionTitle(tr(Str.SPECIFICATIONS))
            val spec = d.specifications
            val entered = d.enteredOnSite.toSet()
            SpecRow(tr(Str.VIN), spec.vin, "vin" in entered)
            SpecRow(tr(Str.PLATE), spec.licensePlate, "license_plate" in entered)
            SpecRow(tr(Str.NAME), spec.customName)
            SpecRow(tr(Str.MODEL), spec.vehicleModelName ?: spec.vehicleModelId, "vehicle_model" in entered)
            SpecRow(tr(Str.VARIANT), spec.installationVariant)
            SpecRow(tr(Str.LOCK_TYPE), spec.centralLockConnectionType, "central_lock_connection_type" in entered)
            SpecRow(tr(Str.FUEL), spec.fuelType)
            SpecRow(tr(Str.HARDWARE), spec.hardware)
            SpecRow(tr(Str.SERIAL), spec.cloudboxxSerial, "cloudboxx_serial" in entered)
            SpecRow(tr(Str.PRESET), spec.cloudboxxConfigPreset)
            SpecRow(tr(Str.SERVICE_DATE), spec.plannedServiceDate?.let { dateText(it) })
            spec.masterData.forEach { SpecRow(it.key, it.value, "master_data.${it.key}" in entered) }
            spec.instructions?.let {
                Text(tr(Str.INSTRUCTIONS), style = MaterialTheme.typography.titleSmall)
                Text(it)
            }

            if (d.vehicleTests.isNotEmpty()) {
                HorizontalDivider()
                SectionTitle(tr(Str.TESTS_ON_PHONE))
                TestResultsTable(d.vehicleTests)
            }
            if (d.pending.isNotEmpty()) {
                HorizontalDivider()
                SectionTitle(tr(Str.PENDING_SECTION))
                d.pending.forEach { p ->
                    Text("${p.action} · ${dateText(p.performedAt)}" + (p.lastError?.let { " — " + strings.get(Str.LAST_TRY, it) } ?: ""))
                }
            }
        }
    }
}

/** The checklist before SUCCEEDED, as the core computed it (steps and tests, done or not, and what blocks). */
@Composable
fun RequiredWorkList(work: RequiredWork) {
    SectionTitle(tr(Str.REQUIRED_WORK))
    val strings = LocalStrings.current
    work.items.forEach { w ->
        val kind = if (w.isStep) strings.get(Str.STEP) else strings.get(Str.TEST)
        val state = if (w.done) strings.get(Str.STEP_OK) else strings.get(Str.STEP_WAITING)
        Row(
            Modifier.fillMaxWidth().semantics(mergeDescendants = true) { stateDescription = state },
            horizontalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            Text(if (w.done) "✓" else "○", color = if (w.done) MaterialTheme.colorScheme.primary else MaterialTheme.colorScheme.outline)
            Column {
                Text("$kind: ${w.name.replace('_', ' ')}")
                w.detail?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
            }
        }
    }
    if (work.done) Text(tr(Str.REQUIRED_WORK_DONE), color = MaterialTheme.colorScheme.primary)
    work.blocker?.let { Text(it, style = MaterialTheme.typography.bodySmall, color = MaterialTheme.colorScheme.secondary) }
}

@Composable
private fun SiteDataForm(state: JobDetailState, detail: JobDetail, busy: Boolean) {
    val form by state.form.collectAsState()
    val error by state.formError.collectAsState()
    val models by state.models.collectAsState()
    SectionTitle(tr(Str.SITE_DATA))
    if (detail.openFields.isNotEmpty()) Text(tr(Str.SITE_DATA_OPEN, detail.openFields.joinToString(", ")))
    // The core's message names the field; shown above the form so it is in view with the fields it concerns.
    ErrorText(error)
    OutlinedTextField(
        value = form.vin,
        onValueChange = { v -> state.edit { copy(vin = v.uppercase()) } },
        label = { Text(tr(Str.VIN)) },
        singleLine = true,
        isError = error != null && form.vin.isNotEmpty(),
        modifier = Modifier.fillMaxWidth(),
    )
    OutlinedTextField(
        value = form.vinScan,
        onValueChange = { v -> state.edit { copy(vinScan = v) } },
        label = { Text(tr(Str.VIN_SCAN)) },
        singleLine = true,
        modifier = Modifier.fillMaxWidth(),
    )
    OutlinedTextField(
        value = form.plate,
        onValueChange = { v -> state.edit { copy(plate = v) } },
        label = { Text(tr(Str.PLATE)) },
        singleLine = true,
        modifier = Modifier.fillMaxWidth(),
    )
    if (models.isNotEmpty()) {
        Text(tr(Str.MODEL), style = MaterialTheme.typography.titleSmall)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            models.forEach { m ->
                FilterChip(
                    selected = form.model == m.id,
                    onClick = { state.edit { copy(model = if (model == m.id) null else m.id, lockType = null) } },
                    label = { Text(m.name) },
                )
            }
        }
        val lockTypes = models.firstOrNull { it.id == form.model }?.centralLockTypes.orEmpty()
        if (lockTypes.isNotEmpty()) {
            Text(tr(Str.LOCK_TYPE), style = MaterialTheme.typography.titleSmall)
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                lockTypes.forEach { t ->
                    FilterChip(
                        selected = form.lockType == t,
                        onClick = { state.edit { copy(lockType = if (lockType == t) null else t) } },
                        label = { Text(t) },
                    )
                }
            }
        }
    }
    OutlinedTextField(
        value = form.serial,
        onValueChange = { v -> state.edit { copy(serial = v) } },
        label = { Text(tr(Str.SERIAL)) },
        singleLine = true,
        modifier = Modifier.fillMaxWidth(),
    )
    OutlinedTextField(
        value = form.serialScan,
        onValueChange = { v -> state.edit { copy(serialScan = v) } },
        label = { Text(tr(Str.SERIAL_SCAN)) },
        singleLine = true,
        modifier = Modifier.fillMaxWidth(),
    )
    MasterDataRows(state, form)
    val save = tr(Str.SAVE_SITE_DATA)
    OutlinedButton(
        onClick = state::saveSiteData,
        enabled = !busy,
        modifier = Modifier.fillMaxWidth().semantics { contentDescription = save },
    ) { Text(save) }
}

/** Master data the provider did not set: key and value rows, added and removed by the technician. */
@Composable
private fun MasterDataRows(state: JobDetailState, form: SiteForm) {
    Text(tr(Str.MASTER_DATA), style = MaterialTheme.typography.titleSmall)
    form.masterData.forEachIndexed { index, (key, value) ->
        OutlinedTextField(
            value = key,
            // Keys are lower case; the core checks the rest and names the key it refuses.
            onValueChange = { v -> state.edit { withMasterRow(index, key = v.lowercase()) } },
            label = { Text(tr(Str.MASTER_KEY)) },
            singleLine = true,
            modifier = Modifier.fillMaxWidth(),
        )
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp), verticalAlignment = Alignment.CenterVertically) {
            OutlinedTextField(
                value = value,
                onValueChange = { v -> state.edit { withMasterRow(index, value = v) } },
                label = { Text(tr(Str.MASTER_VALUE)) },
                singleLine = true,
                modifier = Modifier.weight(1f),
            )
            val remove = tr(Str.REMOVE_MASTER_DATA) + (if (key.isBlank()) "" else " $key")
            TextButton(
                onClick = { state.edit { copy(masterData = masterData.filterIndexed { i, _ -> i != index }) } },
                modifier = Modifier.semantics { contentDescription = remove },
            ) { Text(tr(Str.REMOVE_MASTER_DATA)) }
        }
    }
    val add = tr(Str.ADD_MASTER_DATA)
    TextButton(
        onClick = { state.edit { copy(masterData = masterData + ("" to "")) } },
        modifier = Modifier.semantics { contentDescription = add },
    ) { Text(add) }
}

@Composable
private fun OfferedActions(actions: List<DetailButton>, busy: Boolean, onAction: (DetailButton) -> Unit) {
    actions.forEachIndexed { index, action ->
        val title = tr(action.title)
        val modifier = Modifier.fillMaxWidth().semantics { contentDescription = title }
        if (index == 0) {
            Button(onClick = { onAction(action) }, enabled = !busy, modifier = modifier) { Text(title) }
        } else {
            OutlinedButton(onClick = { onAction(action) }, enabled = !busy, modifier = modifier) { Text(title) }
        }
    }
}
