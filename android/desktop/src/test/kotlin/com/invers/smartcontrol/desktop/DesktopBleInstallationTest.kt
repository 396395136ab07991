// DesktopBleInstallationTest.kt: the desktop app's core reaches a CloudBoxx through the library's btleplug driver and BlueZ's D-Bus API.
package com.invers.smartcontrol.desktop

import com.invers.smartcontrol.SimCloudProcess
import com.invers.smartcontrol.ffi.JobKind
import com.invers.smartcontrol.ffi.JobQuery
import com.invers.smartcontrol.ffi.JobStatus
import com.invers.smartcontrol.ffi.JobView
import com.invers.smartcontrol.ffi.WorkflowOptions
import com.invers.smartcontrol.ffi.WorkflowProgress
import com.invers.smartcontrol.ffi.WorkflowStep
import com.sun.jna.Library
import com.sun.jna.Native
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.util.Collections
import java.util.concurrent.TimeUnit

/**
 * The core opened exactly as smartcontrol-desktop opens it ([openDesktopCore]: no BLE transport, so the
 * library's built-in btleplug driver) runs a whole installation against `sim-device --bluez` on a private
 * system bus, then completes the job as SUCCEEDED on a real `sim-cloud`. The process's
 * `DBUS_SYSTEM_BUS_ADDRESS` is set with libc's setenv (through JNA) before the first scan, as a technician's
 * session has it set (or BlueZ's default bus is used); btleplug then talks to the simulated BlueZ over D-Bus
 * as it would to bluetoothd. No frame goes through a Kotlin transport.
 */
class DesktopBleInstallationTest {
    private interface LibC : Library {
        fun setenv(name: String, value: String, overwrite: Int): Int
    }

    @Test
    fun `the desktop core installs a CloudBoxx through btleplug and the simulated BlueZ`(@TempDir tmp: File) {
        val dbusDaemon = requireTool("dbus-daemon", "dbus-daemon")
        val procs = mutableListOf<Process>()
        try {
            SimCloudProcess("demo").use { cloud ->
                openDesktopCore(File(tmp, "data"), cloud.url).use { sc ->
                    runBlocking {
                        sc.login("anna@autotech.test", "demo")
                        sc.sync()
                        val job = sc.jobs(JobQuery(view = JobView.AVAILABLE, limit = 1000u)).jobs
                            .filter { it.fleetName == "Berlin Fleet" && it.vin != null && it.kind == JobKind.INSTALLATION }
                            .first { sc.job(it.id).specifications.cloudboxxSerial != null }
                        val spec = sc.job(job.id).specifications
                        val serial = spec.cloudboxxSerial!!
                        sc.claim(job.id)
                        assertEquals(1uL, sc.sync().applied, "the claim reached the cloud, which grants vehicle access")

                        val bus = startPrivateBus(dbusDaemon, File(tmp, "bus"), procs)
                        startSimBluez(
                            bus, cloud.fleetPublicKey("Berlin Fleet"),
                            listOf("$serial,vin=${job.vin},model=${spec.vehicleModelId ?: ""}"),
                            File(tmp, "sim-device.log"), procs,
                        )
                        val libc = Native.load("c", LibC::class.java)
                        assertEquals(0, libc.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus, 1))

                        val progress = Collections.synchronizedList(mutableListOf<WorkflowProgress>())
                        val report = try {
                            sc.runInstallation(job.id, WorkflowOptions(reconnectDelayMs = 50u)) { progress.add(it) }
                        } catch (e: Exception) {
                            throw AssertionError("installation over btleplug failed: ${e.message}\nsim-device: ${File(tmp, "sim-device.log").readText()}", e)
                        }
                        assertEquals(serial, report.device.serial)
                        assertTrue(report.allTestsPassed, report.toString())
                        assertTrue(report.requiredWork.done, report.requiredWork.toString())
                        for (step in listOf(WorkflowStep.CHECK_VEHICLE, WorkflowStep.CONFIGURE, WorkflowStep.ATTEST)) {
                            assertTrue(progress.any { it is WorkflowProgress.StepDone && it.step == step && it.ok }, "$step done")
                        }

                        sc.completeSucceeded(job.id, "installed from the desktop app")
                        sc.sync()
                        assertEquals(0L, sc.pendingCount())
                        assertEquals(JobStatus.SUCCEEDED, sc.job(job.id).item.status)
                        assertTrue(sc.jobs(JobQuery(view = JobView.DONE, limit = 1000u)).jobs.any { it.id == job.id })
                    }
                }
            }
        } finally {
            procs.asReversed().forEach { p ->
                p.destroy()
                if (!p.waitFor(5, TimeUnit.SECONDS)) p.destroyForcibly().waitFor(5, TimeUnit.SECONDS)
            }
        }
    }
}
