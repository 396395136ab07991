// AppFlowTest.kt: the shared screens driven through semantics, on the real facade, core library, sim-cloud and sim-device.
package com.invers.smartcontrol.ui

import androidx.compose.ui.test.hasClickAction
import androidx.compose.ui.test.hasContentDescription
import androidx.compose.ui.test.hasSetTextAction
import androidx.compose.ui.test.hasText
import androidx.compose.ui.test.isEnabled
import androidx.compose.ui.test.junit4.createComposeRule
import androidx.compose.ui.test.performTextInput
import androidx.compose.ui.test.performTextReplacement
import com.invers.smartcontrol.SimCloudProcess
import com.invers.smartcontrol.SimDeviceProcess
import com.invers.smartcontrol.SimDeviceTransport
import com.invers.smartcontrol.SimUnit
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.ffi.BleAdvertisement
import com.invers.smartcontrol.ffi.BleLink
import com.invers.smartcontrol.ffi.BleLinkEvents
import com.invers.smartcontrol.ffi.BleTransport
import com.invers.smartcontrol.ffi.BleTransportException
import com.invers.smartcontrol.ffi.JobItem
import com.invers.smartcontrol.ffi.JobKind
import com.invers.smartcontrol.ffi.JobQuery
import com.invers.smartcontrol.ffi.JobStatus
import com.invers.smartcontrol.ffi.JobView
import com.invers.smartcontrol.ffi.SyncState
import com.invers.smartcontrol.ffi.WorkflowOptions
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.AfterClass
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.BeforeClass
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

class AppFlowTest {
    companion object {
        private lateinit var cloud: SimCloudProcess

        @JvmStatic
        @BeforeClass
        fun startCloud() {
            cloud = SimCloudProcess("demo")
        }

        @JvmStatic
        @AfterClass
        fun stopCloud() = cloud.close()
    }

    @get:Rule
    val rule = createComposeRule()

    @get:Rule
    val tmp = TemporaryFolder()

    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    private var core: SmartControl? = null
    /** The app's BLE stack: sim-device, once the test knows which CloudBoxx the job names. */
    private val ble = DelegatingTransport()

    @After
    fun tearDown() {
        scope.cancel()
        core?.close()
    }

    private fun start(
        loggedIn: Boolean,
        strings: Strings = ENGLISH,
        syncInterval: Duration? = null,
    ): AppState {
        val sc = openCore(tmp.newFolder("core"), cloud).also { core = it }
        if (loggedIn) runBlocking {
            sc.login("anna@autotech.test", "demo")
            sc.sync()
        }
        val app = AppState(
            sc, scope, strings, ble,
            WorkflowOptions(reconnectDelayMs = 50u),
            syncInterval = syncInterval,
        )
        rule.setContent { SmartControlTheme(dark = false, strings = strings) { SmartControlApp(app) } }
        return app
    }

    private fun button(label: String) = hasClickAction() and hasContentDescription(label)
    private fun field(label: String) = hasSetTextAction() and hasText(label)

    /** A Berlin installation that names its CloudBoxx (what sim-device can serve), from the core. */
    private fun installableJob(sc: SmartControl): Pair<JobItem, String> = runBlocking {
        sc.jobs(JobQuery(view = JobView.AVAILABLE, limit = 1000u)).jobs
            .filter { it.fleetName == "Berlin Fleet" && it.vin != null && it.kind == JobKind.INSTALLATION }
            .firstNotNullOf { item -> sc.job(item.id).specifications.cloudboxxSerial?.let { item to it } }
    }

    private fun openJob(label: String) {
        rule.onNode(field(ENGLISH.get(Str.SEARCH))).performTextReplacement(label)
        rule.click(hasClickAction() and hasContentDescription(label, substring = true))
        rule.await(hasText(ENGLISH.get(Str.SPECIFICATIONS)))
    }

    @Test
    fun `a whole installation from login to SUCCEEDED`() {
        // Background sync on, as in the app: the claim reaches the cloud, which grants vehicle access.
        val app = start(loggedIn = false, syncInterval = 2.seconds)
        val sc = core!!
        rule.await(button("Sign in"))
        rule.assertAccessible("login")
        renderScreen("login", app, Screen.Login)
        renderScreen("login-de", app, Screen.Login, GERMAN)
        rule.onNode(field("Email")).performTextInput("anna@autotech.test")
        rule.onNode(field("Password")).performTextInput("wrong")
        rule.click(button("Sign in"))
        rule.await(hasText("try again", substring = true))
        rule.onNode(field("Password")).performTextReplacement("demo")
        rule.click(button("Sign in"))

        rule.click(hasClickAction() and hasText("Refresh"))
        val (job, serial) = run {
            rule.waitUntil(15_000) { runBlocking { sc.jobs(JobQuery(view = JobView.AVAILABLE)).jobs.isNotEmpty() } }
            installableJob(sc)
        }
        rule.await(hasClickAction() and hasContentDescription(job.label, substring = true), 15_000)
        rule.assertAccessible("jobs")
        renderScreen("jobs", app, Screen.Jobs)

        openJob(job.label)
        rule.await(hasText(ENGLISH.get(Str.REQUIRED_WORK)))
        rule.click(button("Assign Job to Me"))
        rule.await(button("Install at the vehicle"))
        rule.assertAccessible("job detail")
        renderScreen("job-detail", app, Screen.Job(job.id))
        assertEquals(JobStatus.RUNNING, runBlocking { sc.job(job.id) }.item.status)
        rule.waitUntil(15_000) { runBlocking { sc.pendingCount() } == 0L }

        val model = runBlocking { sc.job(job.id) }.specifications.vehicleModelId ?: ""
        SimDeviceProcess(cloud.fleetPublicKey("Berlin Fleet"), listOf(SimUnit(serial, job.vin!!, model))).use { device ->
            val transport = SimDeviceTransport(device.host, device.port)
            ble.target = transport
            val withBle = app
            rule.click(button("Install at the vehicle"))
            rule.click(button("Connect to the CloudBoxx"))
            rule.await(button("Continue to completion"), 90_000)
            rule.await(hasText(ENGLISH.get(Str.ALL_PASSED)))
            rule.await(hasText(ENGLISH.get(Str.REQUIRED_WORK_DONE)))
            assertTrue(transport.framesWritten.get() > 10)
            rule.assertAccessible("installation")
            renderScreen("installation", withBle, Screen.Install(job.id))

            rule.click(button("Continue to completion"))
            rule.await(button("Complete as SUCCEEDED") and isEnabled(), 10_000)
            rule.assertAccessible("completion")
            renderScreen("completion", withBle, Screen.Complete(job.id))
            rule.onNode(field(ENGLISH.get(Str.NOTES))).performTextInput("installed behind the glovebox")
            rule.click(button("Complete as SUCCEEDED"))
            rule.await(hasText("Completed: Succeeded", substring = true))
        }
        assertEquals(JobStatus.SUCCEEDED, runBlocking { sc.job(job.id) }.item.status)
        // Background sync pushes the run and the completion; the cloud then has the job as SUCCEEDED.
        rule.waitUntil(20_000) { runBlocking { sc.pendingCount() } == 0L }
        assertTrue(runBlocking { sc.jobs(JobQuery(view = JobView.DONE, limit = 1000u)) }.jobs.any { it.id == job.id })
    }

    @Test
    fun `FAILED is refused without a comment, then completes with one`() {
        start(loggedIn = true)
        val sc = core!!
        val job = runBlocking { sc.jobs(JobQuery(view = JobView.AVAILABLE, limit = 1000u)).jobs.first { it.vin != null } }
        openJob(job.label)
        rule.click(button("Assign Job to Me"))
        rule.click(button("Complete"))
        rule.await(button("Complete as FAILED") and isEnabled())
        assertTrue(
            "SUCCEEDED is offered only when the core allows it",
            rule.onAllNodes(button("Complete as SUCCEEDED") and isEnabled()).fetchSemanticsNodes().isEmpty(),
        )
        rule.click(button("Complete as FAILED"))
        rule.await(hasText(ENGLISH.get(Str.COMMENT_REQUIRED)))
        assertEquals(JobStatus.RUNNING, runBlocking { sc.job(job.id) }.item.status)
        rule.onNode(field(ENGLISH.get(Str.FAILURE_PROMPT))).performTextInput("Vehicle not at the site")
        rule.click(button("Complete as FAILED"))
        rule.await(hasText("Completed: Failed", substring = true))
        val detail = runBlocking { sc.job(job.id) }
        assertEquals(JobStatus.FAILED, detail.item.status)
        assertEquals("Vehicle not at the site", detail.failureComment)
    }

    @Test
    fun `offline with the cloud faulted, then syncing`() {
        val app = start(loggedIn = true)
        val sc = core!!
        val job = runBlocking { sc.jobs(JobQuery(view = JobView.AVAILABLE, limit = 1000u)).jobs.first() }
        cloud.offline()
        try {
            openJob(job.label)
            rule.click(button("Assign Job to Me"))
            rule.await(hasContentDescription("1 action waiting for sync", substring = true))
            rule.click(hasClickAction() and hasText("Back"))
            rule.click(hasClickAction() and hasText("Refresh"))
            rule.await(hasContentDescription("sync-banner: Offline.", substring = true), 15_000)
            assertEquals(SyncState.OFFLINE, app.status.value.state)
            rule.assertAccessible("jobs offline")
            renderScreen("jobs-offline", app, Screen.Jobs)
        } finally {
            cloud.online()
        }
        rule.click(hasClickAction() and hasText("Refresh"))
        rule.waitUntil(15_000) { rule.onAllNodes(hasContentDescription("sync-banner", substring = true)).fetchSemanticsNodes().isEmpty() }
        assertEquals(0L, runBlocking { sc.pendingCount() })
        renderScreen("conflicts", app, Screen.Conflicts)
    }

    @Test
    fun `a VIN typed wrong is refused by the core and corrected`() {
        val app = start(loggedIn = true)
        val sc = core!!
        val job = runBlocking { sc.jobs(JobQuery(view = JobView.AVAILABLE, limit = 1000u)).jobs.first { it.vin == null } }
        openJob(job.label)
        rule.click(button("Assign Job to Me"))
        rule.await(button("Save site data"))
        rule.onNode(field("VIN")).performTextInput("WVWZZZ1JZXW00000O")
        rule.onNode(field(ENGLISH.get(Str.PLATE))).performTextInput("b-kt 7")
        rule.click(button("Save site data"))
        rule.await(hasText("letter O", substring = true))
        renderScreen("site-data-error", app, Screen.Job(job.id))
        rule.onNode(field("VIN")).performTextReplacement("WVWZZZ1JZXW000777")
        rule.click(button("Save site data"))
        rule.await(hasText("Site data saved", substring = true))
        rule.await(hasText("VIN (entered on site)"))
        val spec = runBlocking { sc.job(job.id) }.specifications
        assertEquals("WVWZZZ1JZXW000777", spec.vin)
        assertEquals("B-KT 7", spec.licensePlate)
    }

}

class DelegatingTransport : BleTransport {
    @Volatile
    var target: BleTransport? = null
    private fun t() = target ?: throw BleTransportException.Io("no sim-device yet")
    override fun scan(timeoutMs: UInt): List<BleAdvertisement> = t().scan(timeoutMs)
    override fun connect(serial: String, events: BleLinkEvents): BleLink = t().connect(serial, events)
}
