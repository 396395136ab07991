// FacadeBenchmarkTest.kt: measured figures (printed, not asserted): 1,000 jobs listed through the facade, one action round trip.
package com.invers.smartcontrol

import com.invers.smartcontrol.ffi.CoreSettings
import com.invers.smartcontrol.ffi.JobQuery
import com.invers.smartcontrol.ffi.SmartControlCore
import com.invers.smartcontrol.ffi.JobView
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File

/**
 * Figures for docs/ffi.md. The timings are printed, never asserted (shared
 * CI machines vary); what is asserted is that the measured work was done.
 */
class FacadeBenchmarkTest {
    private fun median(xs: List<Long>) = xs.sorted()[xs.size / 2]
    private fun p95(xs: List<Long>) = xs.sorted()[(xs.size * 95) / 100]
    private fun ms(nanos: Long) = "%.3f ms".format(nanos / 1e6)

    @Test
    fun `list 1,000 jobs and one claim round trip`(@TempDir dir: File) = runBlocking<Unit> {
        SimCloudProcess("bulk:1000").use { cloud ->
            val email = cloud.bulkTechnician()
            SmartControl.open(dir, cloud.url).use { sc ->
                sc.login(email, "demo")
                sc.sync()
                val query = JobQuery(view = JobView.AVAILABLE, limit = 1000u)

                // The facade call and the same call on the generated binding
                // alone (no dispatcher hop; a second handle to the same
                // store), interleaved so both see the same JIT and cache state.
                val raw = SmartControlCore(CoreSettings(dataDir = dir.path, serverUrl = cloud.url), null, null)
                repeat(30) {
                    assertEquals(1000, sc.jobs(query).jobs.size)
                    assertEquals(1000, raw.jobs(query).jobs.size)
                }
                val list = mutableListOf<Long>()
                val direct = mutableListOf<Long>()
                repeat(200) {
                    var t = System.nanoTime()
                    val page = sc.jobs(query)
                    list.add(System.nanoTime() - t)
                    assertEquals(1000, page.jobs.size)
                    t = System.nanoTime()
                    val rawPage = raw.jobs(query)
                    direct.add(System.nanoTime() - t)
                    assertEquals(page, rawPage)
                }
                raw.close()
                val flowFirst = (1..20).map {
                    val t = System.nanoTime()
                    assertEquals(1000, sc.jobList(query).first().size)
                    System.nanoTime() - t
                }

                val ids = sc.jobs(query).jobs.map { it.id }
                val claimOnly = mutableListOf<Long>()
                val roundTrip = ids.take(20).map { id ->
                    val t = System.nanoTime()
                    sc.claim(id)
                    claimOnly.add(System.nanoTime() - t)
                    val report = sc.sync()
                    val dt = System.nanoTime() - t
                    assertEquals(1uL, report.applied)
                    dt
                }

                println("BENCH facade jobs(1,000) suspend call: median ${ms(median(list))}, p95 ${ms(p95(list))} (200 runs)")
                println("BENCH binding jobs(1,000) direct call: median ${ms(median(direct))}, p95 ${ms(p95(direct))} (200 runs)")
                println("BENCH facade jobList(1,000) first emission (subscribe + query): median ${ms(median(flowFirst))} (20 runs)")
                println("BENCH facade claim (local, durable): median ${ms(median(claimOnly))} (20 runs)")
                println("BENCH facade claim + sync round trip (loopback sim-cloud): median ${ms(median(roundTrip))}, p95 ${ms(p95(roundTrip))} (20 runs)")
            }
        }
    }
}
