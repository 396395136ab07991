// FullJobTest.kt: a whole job through the Kotlin facade and the JNA-loaded host library, against real sim-cloud and sim-device processes.
package com.invers.smartcontrol

import com.invers.smartcontrol.ffi.CoreEvent
import com.invers.smartcontrol.ffi.JobAction
import com.invers.smartcontrol.ffi.JobQuery
import com.invers.smartcontrol.ffi.JobStatus
import com.invers.smartcontrol.ffi.JobView
import com.invers.smartcontrol.ffi.LogLevel
import com.invers.smartcontrol.ffi.LogRecord
import com.invers.smartcontrol.ffi.LogSink
import com.invers.smartcontrol.ffi.PlatformException
import com.invers.smartcontrol.ffi.SecretStore
import com.invers.smartcontrol.ffi.SyncState
import com.invers.smartcontrol.ffi.WorkflowOptions
import com.invers.smartcontrol.ffi.WorkflowProgress
import com.invers.smartcontrol.ffi.WorkflowStep
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.util.Collections
import java.util.concurrent.ConcurrentHashMap

/** The platform keychain stand-in: a map, as the Android Keystore hook would be. */
class MapSecretStore : SecretStore {
    val map = ConcurrentHashMap<String, ByteArray>()
    override fun get(name: String): ByteArray? = map[name]
    override fun put(name: String, value: ByteArray) {
        if (value.isEmpty()) throw PlatformException.Failed("empty secret for $name")
        map[name] = value
    }
    override fun delete(name: String) { map.remove(name) }
}

/** The Logcat stand-in. */
object ListLogSink : LogSink {
    val records: MutableList<LogRecord> = Collections.synchronizedList(mutableListOf())
    override fun log(record: LogRecord) { records.add(record) }
}

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FullJobTest {
    private lateinit var cloud: SimCloudProcess

    @BeforeAll
    fun startCloud() {
        cloud = SimCloudProcess("demo")
        SmartControl.setLogSink(ListLogSink, LogLevel.INFO)
    }

    @AfterAll
    fun stopCloud() = cloud.close()

    private fun open(dir: File, keychain: SecretStore = MapSecretStore()) =
        SmartControl.open(dir, cloud.url, secretStore = keychain, configure = {
            requestTimeoutMs = 5_000u
            retryAttempts = 1u
            retryBaseDelayMs = 5u
            retryMaxDelayMs = 10u
        })

    private fun view(v: JobView, search: String? = null, provider: String? = null) =
        JobQuery(view = v, search = search, provider = provider, limit = 1000u)

    @Test
    fun `login, sync, claim, install over the Kotlin BLE transport, complete offline, sync later`(@TempDir dir: File) = runBlocking<Unit> {
        val keychain = MapSecretStore()
        open(dir, keychain).use { sc ->
            val pendingSeen = Collections.synchronizedList(mutableListOf<Long>())
            val watcher = launch(Dispatchers.Default) { sc.pendingCountFlow.collect { pendingSeen.add(it) } }

            val wrong = assertThrows<SmartControlException.LoginRejected> {
                runBlocking { sc.login("anna@autotech.test", "nope") }
            }
            assertEquals("invalid_credentials", wrong.kind)
            assertTrue(wrong.message!!.contains("try again"), wrong.message)

            val anna = sc.login("anna@autotech.test", "demo")
            assertEquals("Anna Schmidt", anna.name)
            assertTrue(keychain.map.containsKey("phone-ed25519"), "the phone key lives in the platform store")
            assertTrue(sc.sync().jobsReceived > 0u)

            val available = sc.jobList(view(JobView.AVAILABLE)).first()
            assertTrue(available.isNotEmpty())
            val candidates = available.filter {
                it.fleetName == "Berlin Fleet" && it.vin != null && it.kind == com.invers.smartcontrol.ffi.JobKind.INSTALLATION
            }
            var picked: com.invers.smartcontrol.ffi.JobItem? = null
            for (c in candidates) {
                if (sc.job(c.id).specifications.cloudboxxSerial != null) {
                    picked = c
                    break
                }
            }
            val job = picked ?: error("no Berlin installation that names its CloudBoxx")
            val found = sc.jobs(view(JobView.AVAILABLE, search = job.label.lowercase(), provider = "Shared Mobility GmbH"))
            assertTrue(found.jobs.any { it.id == job.id })
            assertEquals(0, sc.jobs(view(JobView.AVAILABLE, provider = "no such provider")).jobs.size)

            val detail = sc.job(job.id)
            val serial = detail.specifications.cloudboxxSerial ?: error("the job names no CloudBoxx")
            assertEquals(job.id, detail.item.id)
            assertEquals(listOf(JobAction.CLAIM), detail.availableActions)
            assertTrue(detail.requiredWork.items.isNotEmpty() && !detail.requiredWork.done)

            val claimed = sc.claim(job.id)
            // Right after the claim SUCCEEDED is refused, naming what is missing.
            val early = assertThrows<SmartControlException.ActionRefused> { runBlocking { sc.completeSucceeded(job.id) } }
            assertTrue(early.message!!.contains("no on-vehicle run"), early.message)
            assertEquals(JobStatus.RUNNING, claimed.status)
            assertEquals(1L, sc.pendingCount())
            assertTrue(sc.jobList(view(JobView.MINE)).first().any { it.id == job.id })
            assertEquals(1uL, sc.sync().applied)

            val model = detail.specifications.vehicleModelId ?: ""
            SimDeviceProcess(cloud.fleetPublicKey("Berlin Fleet"), listOf(SimUnit(serial, job.vin!!, model))).use { device ->
                val transport = SimDeviceTransport(device.host, device.port)
                assertTrue(transport.scan(100u).isNotEmpty())
                val progress = Collections.synchronizedList(mutableListOf<WorkflowProgress>())
                val report = sc.runInstallation(job.id, WorkflowOptions(reconnectDelayMs = 50u), transport) {
                    progress.add(it)
                }
                assertEquals(serial, report.device.serial)
                assertTrue(report.allTestsPassed, report.toString())
                assertTrue(report.requiredWork.done, report.requiredWork.toString())
                assertTrue(progress.any { it is WorkflowProgress.StepDone && it.step == WorkflowStep.CHECK_VEHICLE && it.ok })
                assertTrue(progress.any { it is WorkflowProgress.StepDone && it.step == WorkflowStep.ATTEST && it.ok })
                assertTrue(transport.framesWritten.get() > 10, "frames went through the Kotlin transport")
                assertTrue(transport.notificationsDelivered.get() > 0)
                assertTrue(progress.any { it is WorkflowProgress.StepDone && it.step == WorkflowStep.CONFIGURE && it.ok })
                assertEquals(report.tests.size, progress.count { it is WorkflowProgress.TestResult })
                assertEquals(report.tests.size, sc.job(job.id).vehicleTests.size)
            }

            cloud.offline()
            try {
                sc.completeSucceeded(job.id, "installed behind the glovebox")
                val offline = assertThrows<SmartControlException.Offline> { runBlocking { sc.sync() } }
                assertTrue(offline.message!!.contains("keep working"), offline.message)
                val status = sc.status()
                assertEquals(SyncState.OFFLINE, status.state)
                assertEquals(2uL, status.pendingActions, "START_INSTALLATION and the completion wait")
                assertEquals(JobStatus.SUCCEEDED, sc.job(job.id).item.status)
            } finally {
                cloud.online()
            }
            val back = sc.sync()
            assertEquals(2uL, back.applied)
            assertEquals(0L, sc.pendingCount())
            assertTrue(sc.jobList(view(JobView.DONE)).first().any { it.id == job.id })

            withTimeout(5_000) {
                while (!(pendingSeen.contains(1L) && pendingSeen.contains(2L) && pendingSeen.lastOrNull() == 0L)) {
                    kotlinx.coroutines.delay(20)
                }
            }
            // Joined before `use` closes the core: a collector still reading it would meet a destroyed object.
            watcher.cancelAndJoin()
            assertTrue(ListLogSink.records.any { it.message.contains("logged in") }, "core logs reach the sink")
        }
    }

    @Test
    fun `a job Ben took first becomes a conflict on Anna's phone, and she dismisses it`(@TempDir dir: File) = runBlocking<Unit> {
        val annaDir = File(dir, "anna").apply { mkdirs() }
        val benDir = File(dir, "ben").apply { mkdirs() }
        open(annaDir).use { anna ->
            open(benDir).use { ben ->
                anna.login("anna@autotech.test", "demo")
                anna.sync()
                val totpNeeded = assertThrows<SmartControlException.LoginRejected> {
                    runBlocking { ben.login("ben@autotech.test", "demo") }
                }
                assertEquals("totp_required", totpNeeded.kind)
                ben.login("ben@autotech.test", "demo", totp("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"))
                ben.sync()

                val job = anna.jobs(view(JobView.AVAILABLE)).jobs.last { it.vin != null }
                anna.claim(job.id) // queued on Anna's phone, not synced yet
                ben.claim(job.id)
                assertEquals(1uL, ben.sync().applied)

                val conflictsSeen = Collections.synchronizedList(mutableListOf<ULong>())
                val watcher = launch(Dispatchers.Default) {
                    anna.syncStatus.collect { conflictsSeen.add(it.openConflicts) }
                }
                val report = anna.sync()
                assertEquals(1uL, report.rejected)
                val conflicts = anna.conflicts()
                assertEquals(1, conflicts.size)
                val c = conflicts[0]
                assertEquals(job.id, c.jobId)
                assertEquals("CLAIM", c.action)
                assertTrue(c.reason in setOf("TAKEN_OVER", "INVALID_TRANSITION"), c.reason)
                assertEquals(JobStatus.RUNNING, c.serverStatus)
                assertEquals("Ben Keller", c.serverAssigneeName)
                assertTrue(anna.jobList(view(JobView.COLLEAGUES)).first().any { it.id == job.id })
                withTimeout(5_000) { while (!conflictsSeen.contains(1uL)) kotlinx.coroutines.delay(20) }

                val refused = assertThrows<SmartControlException> { runBlocking { anna.resubmitConflict(c.id) } }
                assertTrue(refused is SmartControlException.ActionRefused || refused is SmartControlException.NotFound, refused.toString())
                anna.dismissConflict(c.id)
                assertEquals(0, anna.conflicts().size)
                withTimeout(5_000) { while (conflictsSeen.lastOrNull() != 0uL) kotlinx.coroutines.delay(20) }
                // Joined before `use` closes the core: a collector still reading it would meet a destroyed object.
                watcher.cancelAndJoin()

                assertThrows<SmartControlException.NotFound> { runBlocking { anna.dismissConflict(c.id) } }
            }
        }
    }

    @Test
    fun `flows deliver the current state first, then follow local changes`(@TempDir dir: File) = runBlocking<Unit> {
        open(dir).use { sc ->
            val first = sc.events.first()
            assertTrue(first is CoreEvent.Status && !first.status.loggedIn, first.toString())
            sc.login("anna@autotech.test", "demo")
            sc.sync()
            val mine = Collections.synchronizedList(mutableListOf<List<String>>())
            val watcher = launch(Dispatchers.Default) {
                sc.jobList(view(JobView.MINE)).collect { list -> mine.add(list.map { it.id }) }
            }
            withTimeout(5_000) { while (mine.isEmpty()) kotlinx.coroutines.delay(10) }
            assertEquals(emptyList<String>(), mine.first())
            val job = sc.jobs(view(JobView.AVAILABLE)).jobs.first()
            sc.claim(job.id)
            withTimeout(5_000) { while (mine.last() != listOf(job.id)) kotlinx.coroutines.delay(10) }
            sc.withdraw(job.id)
            withTimeout(5_000) { while (mine.last().isNotEmpty()) kotlinx.coroutines.delay(10) }
            // Joined before `use` closes the core: a collector still reading it would meet a destroyed object.
            watcher.cancelAndJoin()
        }
    }

    @Test
    fun `logout refuses to drop unsynced work unless forced`(@TempDir dir: File) = runBlocking<Unit> {
        open(dir).use { sc ->
            assertThrows<SmartControlException.NotLoggedIn> { runBlocking { sc.claim("J-1") } }
            sc.login("anna@autotech.test", "demo")
            sc.sync()
            val job = sc.jobs(view(JobView.AVAILABLE)).jobs.first()
            sc.claim(job.id)
            val refused = assertThrows<SmartControlException.UnsyncedWork> { runBlocking { sc.logout() } }
            assertTrue(refused.message!!.contains("1 action"), refused.message)
            sc.logout(discardUnsynced = true)
            assertEquals(null, sc.account())
            assertEquals(false, sc.status().loggedIn)
        }
    }
}

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SiteDataTest {
    private lateinit var cloud: SimCloudProcess

    @BeforeAll
    fun startCloud() {
        cloud = SimCloudProcess("demo")
    }

    @AfterAll
    fun stopCloud() = cloud.close()

    @Test
    fun `what the provider left open is entered through the facade, validated, and the catalogue is synced`(@TempDir dir: File) = runBlocking<Unit> {
        SmartControl.open(dir, cloud.url, secretStore = MapSecretStore()).use { sc ->
            sc.login("anna@autotech.test", "demo")
            sc.sync()
            assertTrue(sc.vehicleModels().any { it.id == "vw-id3" && "SKM" in it.centralLockTypes })
            val open = sc.jobs(JobQuery(view = JobView.AVAILABLE, limit = 1000u)).jobs.first { it.vin == null }
            sc.claim(open.id)
            assertTrue("vin" in sc.job(open.id).openFields)
            val bad = assertThrows<SmartControlException.InvalidInput> {
                runBlocking { sc.enterSiteData(open.id, com.invers.smartcontrol.ffi.SiteEntry(vin = "WVWZZZ1JZXW00000O")) }
            }
            assertEquals("invalid_site_data", bad.kind)
            assertTrue(bad.message!!.contains("letter O"), bad.message)
            val queued = sc.enterSiteData(
                open.id,
                com.invers.smartcontrol.ffi.SiteEntry(vinScan = "WVWZZZ1JZXW000777\r\n", licensePlate = "b-kt 7"),
            )
            assertEquals("ENTER_SITE_DATA", queued.action)
            val detail = sc.job(open.id)
            assertEquals("WVWZZZ1JZXW000777", detail.specifications.vin)
            assertEquals("B-KT 7", detail.specifications.licensePlate)
            assertTrue("vin" in detail.enteredOnSite)
            assertTrue(JobAction.ENTER_SITE_DATA in detail.availableActions)
            assertEquals(2uL, sc.sync().applied)
        }
    }
}
