// AppFlowTest.kt: the shared screens driven through semantics, on the real facade, core library, sim-cloud and sim-device.
package com.invers.smartcontrol.ui

import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.fillMaxHeight
import androidx.compose.foundation.layout.width
import androidx.compose.ui.Modifier
import androidx.compose.ui.test.assertIsSelected
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
import com.invers.smartcontrol.totp
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
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * Each test has its own sim-cloud (fresh demo seed) and data directory, so no test sees another's claims, and
 * the job each one picks (hence each render) is the same on every run.
 */
class AppFlowTest {
    private val cloud = SimCloudProcess("demo")
    private val others = mutableListOf<SmartControl>()

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
        others.forEach { it.close() }
        cloud.close()
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
        // Phone width (411 dp), so the overflow check sees the line breaks a phone makes.
        rule.setContent {
            SmartControlTheme(dark = false, strings = strings) {
                Box(Modifier.width(PHONE_WIDTH).fillMaxHeight()) { SmartControlApp(app) }
            }
        }
        return app
    }

    /** Ben, the colleague, on a second facade (his own data directory) against the same cloud, with his TOTP. */
    private fun ben(): SmartControl = openCore(tmp.newFolder("ben"), cloud).also { others += it }.also { ben ->
        runBlocking {
            ben.login(BEN, "demo", totp(BEN_TOTP_SECRET))
            ben.sync()
        }
    }

    /** Waits until the core has nothing waiting for sync and the banner says so. */
    private fun awaitSynced(app: AppState) {
        rule.waitUntil(20_000) {
            runBlocking { core!!.pendingCount() } == 0L && app.status.value.pendingActions == 0uL &&
                rule.onAllNodes(hasContentDescription("sync-banner", substring = true)).fetchSemanticsNodes().isEmpty()
        }
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

    /**
     * Anna claims the first available job on her phone (queued, not synced); Ben claims the same job and his
     * phone syncs first; Anna is back on the job list. Ben's facade and the job.
     */
    private fun claimQueuedWhileBenClaimsFirst(sc: SmartControl): Pair<SmartControl, JobItem> {
        val ben = ben()
        val job = runBlocking { sc.jobs(JobQuery(view = JobView.AVAILABLE, limit = 1000u)).jobs.first() }
        openJob(job.label)
        rule.click(button("Assign Job to Me"))
        rule.await(hasContentDescription("1 action waiting for sync", substring = true))
        runBlocking {
            ben.claim(job.id)
            assertEquals(1uL, ben.sync().applied)
        }
        rule.click(hasClickAction() and hasText("Back"))
        return ben to job
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
        // Some job row is on screen (the installable one may be further down the lazy list).
        rule.await(hasClickAction() and hasContentDescription(", Available", substring = true), 15_000)
        rule.assertAccessible("jobs")
        renderScreen("jobs", app, Screen.Jobs)

        openJob(job.label)
        rule.await(hasText(ENGLISH.get(Str.REQUIRED_WORK)))
        rule.click(button("Assign Job to Me"))
        rule.await(button("Install at the vehicle"))
        rule.assertAccessible("job detail")
        assertEquals(JobStatus.RUNNING, runBlocking { sc.job(job.id) }.item.status)
        awaitSynced(app)
        renderScreen("job-detail", app, Screen.Job(job.id))

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
            awaitSynced(app)
            renderScreen("installation", withBle, Screen.Install(job.id))

            rule.click(button("Continue to completion"))
            rule.await(button("Complete as SUCCEEDED") and isEnabled(), 10_000)
            rule.assertAccessible("completion")
            awaitSynced(app)
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

    /** A value of [field] in a JSON answer (string values only; enough for the ids the tests need). */
    private fun jsonField(json: String, field: String): String =
        Regex("\"${Regex.escape(field)}\"\\s*:\\s*\"([^\"]+)\"").find(json)?.groupValues?.get(1)
            ?: error("no $field in $json")

    /**
     * A second provider over sim-cloud's QA API: "Second Mobility" with a "Munich Fleet" the demo partner is
     * connected to (invited by the provider, accepted by the partner's admin), and two jobs assigned to the partner.
     */
    private fun secondProvider(): List<String> {
        val created = cloud.http(
            "POST", "/_sim/providers",
            """{"name":"Second Mobility","email":"qa@second.test","password":"pw","fleets":["Munich Fleet"]}""",
        )
        val fleet = jsonField(created.substringAfter("\"fleets\""), "id")
        val provider = jsonField(cloud.http("POST", "/api/v1/auth/login", """{"email":"qa@second.test","password":"pw"}"""), "access_token")
        val admin = jsonField(cloud.http("POST", "/api/v1/auth/login", """{"email":"admin@autotech.test","password":"demo"}"""), "access_token")
        val company = jsonField(cloud.http("GET", "/api/v1/partner/users", token = admin), "company_id")
        val invitation = cloud.http("POST", "/api/v1/provider/fleets/$fleet/invitations", """{"company_id":"$company"}""", provider)
        cloud.http("POST", "/api/v1/partner/connections/${jsonField(invitation, "id")}/accept", token = admin)
        return listOf("M-SM 101", "M-SM 102").map { plate ->
            cloud.http(
                "POST", "/api/v1/provider/jobs",
                """{"fleet_id":"$fleet","kind":"INSTALLATION","license_plate":"$plate","assigned_company_id":"$company"}""",
                provider,
            )
            plate
        }
    }

    @Test
    fun `the provider chips filter the job list to one provider's jobs and back`() {
        val plates = secondProvider()
        start(loggedIn = true)
        val sc = core!!
        val row = hasClickAction() and hasContentDescription(", Available", substring = true)
        val second = "Second Mobility · Munich Fleet"
        val demo = "Shared Mobility GmbH"
        // Both providers' jobs are in the core's list, and the chips offer both.
        rule.waitUntil(15_000) {
            runBlocking { sc.jobs(JobQuery(view = JobView.AVAILABLE, limit = 1000u)).jobs }
                .map { it.providerName }.toSet().containsAll(listOf("Second Mobility", demo))
        }
        val allChip = hasClickAction() and hasText(ENGLISH.get(Str.ALL_PROVIDERS))
        val secondChip = hasClickAction() and hasText("Second Mobility")
        rule.await(allChip)
        rule.await(hasClickAction() and hasText(demo))
        rule.await(secondChip)
        rule.onNode(allChip).assertIsSelected()
        rule.await(row and hasText(demo, substring = true))
        rule.assertAccessible("jobs with provider chips")
        val total = runBlocking { sc.jobs(JobQuery(view = JobView.AVAILABLE, limit = 1000u)).jobs.size }

        rule.click(secondChip)
        rule.onNode(secondChip).assertIsSelected()
        // Only the second provider's two jobs are rows now, each naming its provider and fleet.
        rule.waitUntil(10_000) { rule.onAllNodes(row).fetchSemanticsNodes().size == plates.size }
        for (plate in plates) rule.await(row and hasContentDescription(plate, substring = true) and hasText(second, substring = true))
        assertTrue(rule.onAllNodes(row and hasText(demo, substring = true)).fetchSemanticsNodes().isEmpty())
        assertEquals(plates.size, rule.onAllNodes(row and hasText(second, substring = true)).fetchSemanticsNodes().size)

        // Back to all providers: the demo provider's rows are back, and the list holds every job again.
        rule.click(allChip)
        rule.onNode(allChip).assertIsSelected()
        rule.await(row and hasText(demo, substring = true))
        rule.waitUntil(10_000) { rule.onAllNodes(row).fetchSemanticsNodes().size > plates.size }
        assertTrue(total > plates.size)
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

        // Master data the provider did not set: a key the core refuses (it names it), then a valid one.
        rule.click(button(ENGLISH.get(Str.ADD_MASTER_DATA)))
        rule.onNode(field(ENGLISH.get(Str.MASTER_KEY))).performTextInput("parking level")
        rule.onNode(field(ENGLISH.get(Str.MASTER_VALUE))).performTextInput("-2")
        rule.click(button("Save site data"))
        rule.await(hasText("\"parking level\"", substring = true))
        rule.assertAccessible("site data with master data")
        rule.onNode(field(ENGLISH.get(Str.MASTER_KEY))).performTextReplacement("parking_level")
        rule.click(button("Save site data"))
        rule.await(hasText("parking_level (entered on site)"))
        val master = runBlocking { sc.job(job.id) }.specifications.masterData
        assertTrue("$master", master.any { it.key == "parking_level" && it.value == "-2" })
        // Removing a row before saving sends nothing for it.
        rule.click(button(ENGLISH.get(Str.ADD_MASTER_DATA)))
        rule.click(button("${ENGLISH.get(Str.REMOVE_MASTER_DATA)}"))
        assertTrue(rule.onAllNodes(field(ENGLISH.get(Str.MASTER_KEY))).fetchSemanticsNodes().isEmpty())
    }

    @Test
    fun `the code field appears for a TOTP account and signs in with the current code`() {
        val app = start(loggedIn = false)
        rule.onNode(field("Email")).performTextInput(BEN)
        rule.onNode(field("Password")).performTextInput("demo")
        assertTrue(rule.onAllNodes(field(ENGLISH.get(Str.TOTP))).fetchSemanticsNodes().isEmpty())
        rule.click(button("Sign in"))
        // The core says the account needs its second factor: the code field appears, with the core's message.
        rule.await(field(ENGLISH.get(Str.TOTP)))
        rule.assertAccessible("login with code")
        renderScreen("login-totp", app, Screen.Login)
        rule.onNode(field(ENGLISH.get(Str.TOTP))).performTextInput("12x34") // digits only, at most 6
        rule.await(hasSetTextAction() and hasText("1234"))
        rule.onNode(field(ENGLISH.get(Str.TOTP))).performTextReplacement(totp(BEN_TOTP_SECRET))
        rule.click(button("Sign in"))
        rule.await(hasClickAction() and hasText("Refresh"))
        assertEquals(BEN, runBlocking { core!!.account() }?.email)
    }

    @Test
    fun `logout with unsynced work asks first, Stay keeps the work, discarding clears it`() {
        start(loggedIn = true)
        val sc = core!!
        val job = runBlocking { sc.jobs(JobQuery(view = JobView.AVAILABLE, limit = 1000u)).jobs.first() }
        openJob(job.label)
        rule.click(button("Assign Job to Me"))
        rule.await(hasContentDescription("1 action waiting for sync", substring = true))
        rule.click(hasClickAction() and hasText("Back"))
        rule.click(hasClickAction() and hasText("Log out"))
        rule.await(hasText(ENGLISH.get(Str.UNSYNCED_TITLE)))
        rule.await(hasText(ENGLISH.get(Str.UNSYNCED_BODY, 1L)))
        rule.assertAccessible("logout dialog")
        rule.click(hasClickAction() and hasText(ENGLISH.get(Str.STAY)))
        rule.waitUntil(5_000) { rule.onAllNodes(hasText(ENGLISH.get(Str.UNSYNCED_TITLE))).fetchSemanticsNodes().isEmpty() }
        // Kept: still signed in, the claim still waits, the banner still says so.
        assertTrue(runBlocking { sc.status() }.loggedIn)
        assertEquals(1L, runBlocking { sc.pendingCount() })
        rule.await(hasContentDescription("1 action waiting for sync", substring = true))

        rule.click(hasClickAction() and hasText("Log out"))
        rule.click(hasClickAction() and hasText(ENGLISH.get(Str.DISCARD_AND_LOG_OUT)))
        rule.await(button("Sign in"))
        assertFalse(runBlocking { sc.status() }.loggedIn)
        // Discarded: signed in again, nothing waits and the cloud never got the claim.
        rule.onNode(field("Email")).performTextInput("anna@autotech.test")
        rule.onNode(field("Password")).performTextInput("demo")
        rule.click(button("Sign in"))
        rule.click(hasClickAction() and hasText("Refresh"))
        rule.waitUntil(15_000) {
            runBlocking { sc.jobs(JobQuery(view = JobView.AVAILABLE, limit = 1000u)).jobs.any { it.id == job.id } }
        }
        assertEquals(0L, runBlocking { sc.pendingCount() })
        assertTrue(rule.onAllNodes(hasContentDescription("sync-banner", substring = true)).fetchSemanticsNodes().isEmpty())
    }

    @Test
    fun `a take-over by a colleague turns queued work into a conflict, dismissed on the Conflicts screen (German)`() {
        val app = start(loggedIn = true, strings = GERMAN)
        val sc = core!!
        val de = GERMAN
        val job = runBlocking { sc.jobs(JobQuery(view = JobView.AVAILABLE, limit = 1000u)).jobs.first { it.vin != null } }
        rule.onNode(field(de.get(Str.SEARCH))).performTextReplacement(job.label)
        rule.click(hasClickAction() and hasContentDescription(job.label, substring = true))
        rule.await(hasText(de.get(Str.SPECIFICATIONS)))
        rule.click(button(de.get(Str.ACTION_CLAIM)))
        rule.await(button(de.get(Str.ACTION_COMPLETE)))
        rule.assertAccessible("job detail (de)")
        rule.click(hasClickAction() and hasText(de.get(Str.BACK)))
        // The claim reaches the cloud: the job is Anna's there.
        rule.click(hasClickAction() and hasText(de.get(Str.REFRESH)))
        awaitSynced(app)
        rule.assertAccessible("jobs (de)")

        // Anna completes it as FAILED; not synced yet (no background sync in this test). It is in her list now.
        rule.click(hasClickAction() and hasText(de.get(Str.TAB_MINE)))
        rule.click(hasClickAction() and hasContentDescription(job.label, substring = true))
        rule.click(button(de.get(Str.ACTION_COMPLETE)))
        rule.await(button(de.get(Str.COMPLETE_FAILED)) and isEnabled())
        rule.assertAccessible("completion (de)")
        rule.onNode(field(de.get(Str.FAILURE_PROMPT))).performTextInput("Fahrzeug nicht vor Ort")
        rule.click(button(de.get(Str.COMPLETE_FAILED)))
        rule.await(hasText(de.get(Str.COMPLETED, de.get(Str.STATUS_FAILED)), substring = true))
        assertEquals(1L, runBlocking { sc.pendingCount() })

        // Meanwhile Ben takes the job over on his phone, and his phone syncs first.
        val ben = ben()
        runBlocking {
            ben.takeOver(job.id)
            assertEquals(1uL, ben.sync().applied)
        }

        // Anna's phone syncs: the cloud refuses her completion; the banner offers the conflict.
        app.toJobs()
        rule.click(hasClickAction() and hasText(de.get(Str.REFRESH)))
        val conflictButton = hasClickAction() and hasText(de.get(Str.CONFLICT_COUNT, 1L))
        rule.click(conflictButton, 15_000)
        rule.await(hasText("${job.label}:", substring = true))
        rule.await(hasText("Ben Keller", substring = true))
        rule.await(hasText(de.get(Str.YOUR_COMMENT, "Fahrzeug nicht vor Ort")))
        rule.assertAccessible("conflicts (de)")
        renderScreen("conflicts-takeover-de", app, Screen.Conflicts)
        assertEquals(1, runBlocking { sc.conflicts() }.size)

        rule.click(button("${de.get(Str.DISMISS)} ${job.label}"))
        rule.await(hasText(de.get(Str.DISMISSED)))
        rule.await(hasText(de.get(Str.NO_CONFLICTS)))
        assertEquals(0, runBlocking { sc.conflicts() }.size)
        rule.waitUntil(5_000) { rule.onAllNodes(conflictButton).fetchSemanticsNodes().isEmpty() }
        // The job is Ben's on the cloud, and on Anna's phone.
        assertEquals("Ben Keller", runBlocking { sc.job(job.id) }.item.assigneeName)
    }

    @Test
    fun `Conflicts opened while the sync that makes the conflict runs shows it when the sync ends`() {
        val app = start(loggedIn = true)
        val sc = core!!
        val (_, job) = claimQueuedWhileBenClaimsFirst(sc)
        // Every answer of the cloud to Anna's phone now takes 1.5 s: the sync is still running when Conflicts opens.
        cloud.http("POST", "/_sim/faults", """{"latency_ms":1500}""")
        rule.click(hasClickAction() and hasText("Refresh"))
        rule.waitUntil(5_000) { app.status.value.state == SyncState.SYNCING }
        rule.click(hasClickAction() and hasText(ENGLISH.get(Str.CONFLICTS)))
        rule.await(hasText(ENGLISH.get(Str.NO_CONFLICTS)))
        assertEquals(SyncState.SYNCING, app.status.value.state)
        // The sync ends with the claim refused: the list follows the core, as the banner does.
        rule.await(hasText("held by Ben Keller", substring = true), 20_000)
        rule.await(hasText(ENGLISH.get(Str.CONFLICT_COUNT, 1L)))
        assertTrue(rule.onAllNodes(hasText(ENGLISH.get(Str.NO_CONFLICTS))).fetchSemanticsNodes().isEmpty())
        assertEquals(1, runBlocking { sc.conflicts() }.size)
        cloud.online()
    }

    @Test
    fun `a refused claim is re-submitted from the Conflicts screen once the colleague gave the job back`() {
        val app = start(loggedIn = true)
        val sc = core!!
        // Anna claims on her phone (queued); Ben claims the same job and his phone syncs first.
        val (ben, job) = claimQueuedWhileBenClaimsFirst(sc)
        rule.click(hasClickAction() and hasText("Refresh"))
        // The refresh's sync has ended (the Refresh button is enabled again) with the claim refused.
        rule.await(hasClickAction() and hasText("Refresh") and isEnabled(), 15_000)
        rule.waitUntil(15_000) { runBlocking { sc.conflicts() }.size == 1 && app.status.value.state != SyncState.SYNCING }
        rule.click(hasClickAction() and hasText(ENGLISH.get(Str.CONFLICT_COUNT, 1L)), 15_000)
        rule.await(hasText("held by Ben Keller", substring = true))
        // Ben gives it back; Anna's phone learns it with the next sync, then she re-submits her claim.
        runBlocking {
            ben.withdraw(job.id)
            ben.sync()
            sc.sync()
        }
        rule.waitUntil(10_000) { runBlocking { sc.job(job.id) }.item.status == JobStatus.ASSIGNED }
        rule.click(button("Resubmit ${job.label}"))
        rule.await(hasText("Queued again:", substring = true))
        rule.await(hasText(ENGLISH.get(Str.NO_CONFLICTS)))
        assertEquals(1L, runBlocking { sc.pendingCount() })
        rule.click(hasClickAction() and hasText("Back"))
        rule.click(hasClickAction() and hasText("Refresh"))
        awaitSynced(app)
        assertEquals(JobStatus.RUNNING, runBlocking { sc.job(job.id) }.item.status)
        assertTrue(runBlocking { sc.jobs(JobQuery(view = JobView.MINE, limit = 1000u)) }.jobs.any { it.id == job.id })
    }

}

class DelegatingTransport : BleTransport {
    @Volatile
    var target: BleTransport? = null
    private fun t() = target ?: throw BleTransportException.Io("no sim-device yet")
    override fun scan(timeoutMs: UInt): List<BleAdvertisement> = t().scan(timeoutMs)
    override fun connect(serial: String, events: BleLinkEvents): BleLink = t().connect(serial, events)
}
