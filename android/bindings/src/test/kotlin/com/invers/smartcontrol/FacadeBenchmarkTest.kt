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
    private companion object {
        /** Warm-up before the measured rounds: at least this long... */
        const val WARM_UP_NANOS = 5_000_000_000L
        /** ...and at least this many rounds (the lifting code compiles after a few hundred pages). */
        const val WARM_UP_ROUNDS = 500
    }

    private fun median(xs: List<Long>) = xs.sorted()[xs.size / 2]
    private fun p95(xs: List<Long>) = xs.sorted()[(xs.size * 95) / 100]

    /** Nanoseconds [block] took. */
    private inline fun nanos(block: () -> Unit): Long {
        val t = System.nanoTime()
        block()
        return System.nanoTime() - t
    }

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
                // The first calls of a fresh JVM run the generated lifting
                // code before HotSpot has compiled it (about 3.7 ms of a
                // 1,000-row page instead of 0.25 ms, for the first few
                // hundred pages): printed as their own figure, apart from the
                // steady state the medians below measure.
                val cold = (1..20).map { nanos { assertEquals(1000, sc.jobs(query).jobs.size) } }
                // Warm-up as JMH does it, by time: rounds of both calls for
                // WARM_UP_NANOS and at least WARM_UP_ROUNDS rounds.
                val warmUpStart = System.nanoTime()
                var warmUpRounds = 0
                while (warmUpRounds < WARM_UP_ROUNDS || System.nanoTime() - warmUpStart < WARM_UP_NANOS) {
                    assertEquals(1000, sc.jobs(query).jobs.size)
                    assertEquals(1000, raw.jobs(query).jobs.size)
                    warmUpRounds++
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
                val flowFirst = (1..20).map { nanos { assertEquals(1000, sc.jobList(query).first().size) } }

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

                // One `figure:` line each (docs/performance.md, scripts/bench):
                // the library is the profile directory JNA loads it from.
                val lib = File(System.getProperty("jna.library.path") ?: "unknown").name
                fun f(nanos: Long) = "%.3f ms".format(nanos / 1e6)
                val ratio = median(list).toDouble() / median(direct).coerceAtLeast(1).toDouble()
                println("figure: jobs() of 1,000 jobs through the Kotlin facade, $lib library, median of 200 = ${f(median(list))} (baseline the generated binding called directly = ${f(median(direct))}, ratio ${"%.2f".format(ratio)})")
                println("figure: jobs() of 1,000 jobs through the Kotlin facade, $lib library, p95 of 200 = ${f(p95(list))} (baseline the generated binding called directly = ${f(p95(direct))}, ratio ${"%.2f".format(p95(list).toDouble() / p95(direct).coerceAtLeast(1).toDouble())})")
                println("figure: jobs() of 1,000 jobs through the Kotlin facade, first 20 calls of the JVM (before the JIT compiled the lifting), $lib library, median of 20 = ${f(median(cold))}")
                println("figure: jobList() of 1,000 jobs through the Kotlin facade, first emission, $lib library, median of 20 = ${f(median(flowFirst))}")
                println("figure: claim through the Kotlin facade (local, durable), $lib library, median of 20 = ${f(median(claimOnly))}")
                println("figure: claim and sync round trip through the Kotlin facade (loopback sim-cloud), $lib library, median of 20 = ${f(median(roundTrip))}")
            }
        }
    }
}
