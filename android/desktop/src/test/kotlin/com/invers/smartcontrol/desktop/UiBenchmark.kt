// UiBenchmark.kt: printed figures (not timed assertions): empty window to the first rendered list of 1,000 jobs, frame times scrolling 10,000.
package com.invers.smartcontrol.desktop

import androidx.compose.ui.ExperimentalComposeUiApi
import androidx.compose.ui.ImageComposeScene
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.input.pointer.PointerEventType
import androidx.compose.ui.unit.Density
import com.invers.smartcontrol.SimCloudProcess
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.ffi.JobQuery
import com.invers.smartcontrol.ffi.JobView
import com.invers.smartcontrol.ui.AppState
import com.invers.smartcontrol.ui.JobsState
import com.invers.smartcontrol.ui.PAGE
import com.invers.smartcontrol.ui.Screen
import com.invers.smartcontrol.ui.SmartControlApp
import com.invers.smartcontrol.ui.SmartControlTheme
import com.invers.smartcontrol.ui.stringsFor
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.util.Locale

/**
 * The shared screens in the desktop window's size (480 x 800 dp, density 1), rendered by Compose's own
 * offscreen scene (composition, layout, Skia raster on the CPU: what a window frame costs without the
 * swap to the screen), on the real core with sim-cloud's `bulk:N` seed. Baseline in the same run: the
 * facade call that feeds the list. Timings are printed, never asserted (shared machines vary); what is
 * asserted is that the work was done (the list rendered its rows, the scroll reached the 10,000th job).
 */
@OptIn(ExperimentalComposeUiApi::class)
class UiBenchmark {
    private val strings = stringsFor(Locale.ENGLISH)
    private fun median(xs: List<Long>) = xs.sorted()[xs.size / 2]
    private fun p95(xs: List<Long>) = xs.sorted()[(xs.size * 95) / 100]
    private fun ms(nanos: Long) = "%.2f".format(nanos / 1e6)
    private fun ratio(a: Long, b: Long) = "%.1f".format(a.toDouble() / b.toDouble())

    private fun figure(name: String, value: Long, baselineName: String, baseline: Long) =
        println("figure: $name = ${ms(value)} ms (baseline $baselineName = ${ms(baseline)} ms, ratio ${ratio(value, baseline)})")

    private fun openSynced(dir: File, cloud: SimCloudProcess): SmartControl = runBlocking {
        val sc = SmartControl.open(dir, cloud.url)
        sc.login(cloud.bulkTechnician(), "demo")
        sc.sync()
        sc
    }

    /** The signed-in app in a fresh offscreen window; [block] gets the scene and the job list's state. */
    private fun <T> window(sc: SmartControl, block: (ImageComposeScene, JobsState, Long) -> T): T {
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        val t0 = System.nanoTime()
        val app = AppState(sc, scope, strings, syncInterval = null)
        val scene = ImageComposeScene(width = 480, height = 800, density = Density(1f)) {
            SmartControlTheme(false, strings) { SmartControlApp(app) }
        }
        try {
            return block(scene, app.holder(Screen.Jobs) as JobsState, t0)
        } finally {
            scene.close()
            scope.cancel()
        }
    }

    /** Renders frames until one was drawn with the list's first page present; returns its end time from [t0]. */
    private fun firstList(scene: ImageComposeScene, jobs: JobsState, t0: Long, total: ULong): Long {
        var frame = 0L
        while (true) {
            val ready = jobs.page.value.total == total
            scene.render(frame++ * 16_666_667L)
            if (ready) return System.nanoTime() - t0
            check(System.nanoTime() - t0 < 30_000_000_000L) { "no list of $total jobs within 30 s (has ${jobs.page.value.total})" }
            Thread.sleep(1)
        }
    }

    @Test
    fun `first rendered list of 1,000 jobs, and frame times scrolling 10,000`(@TempDir dir: File) {
        val query = JobQuery(view = JobView.AVAILABLE, limit = PAGE.toUInt())

        SimCloudProcess("bulk:1000").use { cloud ->
            openSynced(File(dir, "thousand"), cloud).use { sc ->
                val facade = (1..30).map {
                    val t = System.nanoTime()
                    val page = runBlocking { sc.jobs(query) }
                    assertEquals(1000uL, page.total)
                    System.nanoTime() - t
                }.drop(10)
                val cold = window(sc) { scene, jobs, t0 -> firstList(scene, jobs, t0, 1000uL) }
                val warm = (1..7).map {
                    window(sc) { scene, jobs, t0 ->
                        val t = firstList(scene, jobs, t0, 1000uL)
                        assertEquals(PAGE, jobs.jobs.value.size)
                        assertTrue(jobs.lastShown >= 4, "the list laid out rows (last row on screen ${jobs.lastShown})")
                        t
                    }
                }
                figure("ui_first_list_1000_jobs_first_window", cold, "facade_jobs_page_${PAGE}_median", median(facade))
                figure("ui_first_list_1000_jobs_median", median(warm), "facade_jobs_page_${PAGE}_median", median(facade))
            }
        }

        SimCloudProcess("bulk:10000").use { cloud ->
            val t = System.nanoTime()
            openSynced(File(dir, "tenthousand"), cloud).use { sc ->
                println("BENCH login + first sync of 10,000 jobs: ${ms(System.nanoTime() - t)} ms")
                val facadePage = (1..30).map {
                    val s = System.nanoTime()
                    assertEquals(10_000uL, runBlocking { sc.jobs(query) }.total)
                    System.nanoTime() - s
                }.drop(10)
                val all = JobQuery(view = JobView.AVAILABLE, limit = 10_000u)
                val facadeAll = (1..5).map {
                    val s = System.nanoTime()
                    assertEquals(10_000, runBlocking { sc.jobs(all) }.jobs.size)
                    System.nanoTime() - s
                }
                window(sc) { scene, jobs, t0 ->
                    firstList(scene, jobs, t0, 10_000uL)
                    val frames = mutableListOf<Long>()
                    var clock = 1_000_000_000L
                    val start = System.nanoTime()
                    var stuck = 0
                    var last = jobs.lastShown
                    var slowWithPage = 0
                    while (jobs.lastShown < 9_999) {
                        val rowsBefore = jobs.jobs.value.size
                        scene.sendPointerEvent(PointerEventType.Scroll, Offset(240f, 600f), scrollDelta = Offset(0f, 12f))
                        val s = System.nanoTime()
                        clock += 16_666_667L
                        scene.render(clock)
                        val took = System.nanoTime() - s
                        frames.add(took)
                        if (took > 16_666_667L && jobs.jobs.value.size != rowsBefore) slowWithPage++
                        if (jobs.lastShown == last) stuck++ else stuck = 0
                        last = jobs.lastShown
                        check(stuck < 600) { "the list stopped scrolling at row ${jobs.lastShown} of ${jobs.page.value.total} (${jobs.jobs.value.size} loaded)" }
                    }
                    val wall = System.nanoTime() - start
                    assertEquals(10_000, jobs.jobs.value.size)
                    val janky = frames.count { it > 16_666_667L }
                    println("BENCH scrolled 10,000 jobs in ${frames.size} frames (${ms(wall)} ms), $janky frames over 16.7 ms ($slowWithPage of them took in a newly read page)")
                    figure("ui_scroll_10000_frame_median", median(frames), "facade_jobs_page_${PAGE}_median", median(facadePage))
                    figure("ui_scroll_10000_frame_p95", p95(frames), "facade_jobs_page_${PAGE}_median", median(facadePage))
                    figure("ui_scroll_10000_frame_max", frames.max(), "facade_jobs_10000_median", median(facadeAll))
                    figure("ui_scroll_10000_to_end", wall, "facade_jobs_10000_median", median(facadeAll))
                }
            }
        }
    }
}
