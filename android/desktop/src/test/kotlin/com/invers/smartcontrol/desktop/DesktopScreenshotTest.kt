// DesktopScreenshotTest.kt: smartcontrol-desktop as its own process under Xvfb, signed in through its login form, screenshot of the job list.
package com.invers.smartcontrol.desktop

import com.invers.smartcontrol.SimCloudProcess
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.awt.image.BufferedImage
import java.io.File
import java.io.RandomAccessFile
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.concurrent.TimeUnit
import javax.imageio.ImageIO

/**
 * The desktop app as a technician starts it: a separate JVM (`MainKt --server … --data-dir …`) on an Xvfb
 * display, with `DBUS_SYSTEM_BUS_ADDRESS` on a private dbus-daemon where `sim-device --bluez` owns `org.bluez`
 * (the core's btleplug driver finds its units there), against a real `sim-cloud --seed demo`. The test signs in
 * through the login form with X keyboard input (xdotool: a click into the window, Tab, the e-mail, Tab, the password, Tab, Return), waits
 * for the app to log the job list, and writes the app window from Xvfb's frame buffer to
 * docs/screens/desktop-jobs.png. Needs `Xvfb` and `xdotool` (apt-get install xvfb xdotool); fails without them.
 */
class DesktopScreenshotTest {
    private val screensDir = File(System.getProperty("smartcontrol.screens.dir") ?: "../../docs/screens")

    @Test
    fun `the desktop app signs in through its form and shows the job list under Xvfb`(@TempDir tmp: File) {
        val xvfb = requireTool("Xvfb", "xvfb")
        val xdotool = requireTool("xdotool", "xdotool")
        val dbusDaemon = requireTool("dbus-daemon", "dbus-daemon")

        val procs = mutableListOf<Process>()
        try {
            SimCloudProcess("demo").use { cloud ->
                val busAddress = startPrivateBus(dbusDaemon, File(tmp, "bus"), procs)
                startSimBluez(busAddress, cloud.fleetPublicKey("Berlin Fleet"), listOf("CBX-000101"), File(tmp, "sim-device.log"), procs)

                val fbDir = File(tmp, "fb").apply { mkdirs() }
                val display = startXvfb(xvfb, fbDir, File(tmp, "xvfb.log"), procs)

                val appLog = File(tmp, "app.log")
                val appOut = File(tmp, "app.out")
                val app = startApp(cloud.url, File(tmp, "data"), appLog, appOut, display, busAddress)
                procs.add(app)
                val x = XTool(xdotool, display)

                awaitLog(app, appLog, appOut, "screen: Login")
                val window = awaitWindow(x, app, appOut)
                Thread.sleep(1_500) // first frames
                val login = grab(fbDir, window)

                // Sign in as the technician would, through the form: a click on the window's empty lower part
                // gives it the keyboard focus (no window manager runs), Tab reaches the e-mail field.
                x.run("mousemove", "--window", window.id, "${window.width / 2}", "${window.height - 40}")
                x.run("click", "1")
                Thread.sleep(300)
                x.run("key", "--delay", "150", "Tab")
                x.run("type", "--delay", "40", "anna@autotech.test")
                x.run("key", "--delay", "150", "Tab")
                x.run("type", "--delay", "40", "demo")
                x.run("key", "--delay", "150", "Tab", "Return")
                // The pointer off the window, so no row is shown hovered.
                x.run("mousemove", "1279", "899")

                awaitLog(app, appLog, appOut, "screen: Jobs", timeoutSeconds = 60)
                val listed = awaitLog(app, appLog, appOut, Regex("job list: ([1-9][0-9]*) of [0-9]+ jobs"), timeoutSeconds = 60)
                val shot = awaitStable(fbDir, window)

                screensDir.mkdirs()
                val png = File(screensDir, "desktop-jobs.png")
                ImageIO.write(shot, "png", png)
                assertNotBlank("desktop job list", shot)
                val changed = differingFraction(login, shot)
                assertTrue(changed > 0.05, "the window hardly changed after signing in ($changed of its pixels); see $png")
                assertTrue(app.isAlive, "the app exited: ${appOut.readText()}")
                println("desktop-jobs.png: ${shot.width} x ${shot.height}, ${listed.groupValues[1]} jobs listed, ${"%.0f".format(changed * 100)} % of the window changed after sign-in")
            }
        } finally {
            procs.asReversed().forEach { p ->
                p.destroy()
                if (!p.waitFor(5, TimeUnit.SECONDS)) p.destroyForcibly().waitFor(5, TimeUnit.SECONDS)
            }
        }
    }

    /** Xvfb on the first free display from :90, its frame buffer as an XWD file in [fbDir]. */
    private fun startXvfb(xvfb: String, fbDir: File, log: File, procs: MutableList<Process>): String {
        val n = (90..140).first { !File("/tmp/.X$it-lock").exists() && !File("/tmp/.X11-unix/X$it").exists() }
        val p = ProcessBuilder(xvfb, ":$n", "-screen", "0", "1280x900x24", "-nolisten", "tcp", "-fbdir", fbDir.path)
            .redirectErrorStream(true).redirectOutput(log).start()
        procs.add(p)
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20)
        while (!File("/tmp/.X11-unix/X$n").exists() || !File(fbDir, "Xvfb_screen0").exists()) {
            check(p.isAlive) { "Xvfb :$n exited: ${log.readText()}" }
            check(System.nanoTime() < deadline) { "Xvfb :$n did not start within 20 s: ${log.readText()}" }
            Thread.sleep(100)
        }
        return ":$n"
    }

    private fun startApp(server: String, data: File, log: File, out: File, display: String, bus: String): Process {
        val classes = System.getProperty("smartcontrol.desktop.classes") ?: error("smartcontrol.desktop.classes not set (run through Maven)")
        val cpFile = File(System.getProperty("smartcontrol.desktop.classpath.file") ?: error("smartcontrol.desktop.classpath.file not set"))
        val classpath = classes + File.pathSeparator + cpFile.readText().trim()
        val java = File(System.getProperty("java.home"), "bin/java").path
        val pb = ProcessBuilder(
            java, "-cp", classpath,
            "-Djna.library.path=${System.getProperty("jna.library.path")}",
            "-Dskiko.renderApi=SOFTWARE", // Xvfb has no OpenGL
            "com.invers.smartcontrol.desktop.MainKt",
            "--server", server, "--data-dir", data.path, "--log", log.path,
        ).redirectErrorStream(true).redirectOutput(out)
        pb.environment()["DISPLAY"] = display
        pb.environment()["DBUS_SYSTEM_BUS_ADDRESS"] = bus
        pb.environment()["LANG"] = "en_US.UTF-8"
        pb.environment()["LC_ALL"] = "en_US.UTF-8"
        return pb.start()
    }

    private fun awaitLog(app: Process, log: File, out: File, text: String, timeoutSeconds: Long = 30) =
        awaitLog(app, log, out, Regex(Regex.escape(text)), timeoutSeconds)

    private fun awaitLog(app: Process, log: File, out: File, pattern: Regex, timeoutSeconds: Long = 30): MatchResult {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds)
        while (true) {
            val text = if (log.exists()) log.readText() else ""
            pattern.find(text)?.let { return it }
            check(app.isAlive) { "the app exited (status ${app.exitValue()}) before logging /$pattern/:\n${out.readText()}\n$text" }
            check(System.nanoTime() < deadline) { "the app did not log /$pattern/ within $timeoutSeconds s:\n$text\n${out.readText()}" }
            Thread.sleep(100)
        }
    }

    private data class Window(val id: String, val x: Int, val y: Int, val width: Int, val height: Int)

    private class XTool(private val exe: String, private val display: String) {
        fun run(vararg args: String): String {
            val pb = ProcessBuilder(listOf(exe) + args).redirectErrorStream(true)
            pb.environment()["DISPLAY"] = display
            val p = pb.start()
            val text = p.inputStream.bufferedReader().readText()
            check(p.waitFor(20, TimeUnit.SECONDS)) { "xdotool ${args.joinToString(" ")} hung" }
            check(p.exitValue() == 0) { "xdotool ${args.joinToString(" ")} failed (${p.exitValue()}): $text" }
            return text
        }

        fun tryRun(vararg args: String): String? = try { run(*args) } catch (_: IllegalStateException) { null }
    }

    /** The app's top-level window (titled SmartControl): the largest visible match. */
    private fun awaitWindow(x: XTool, app: Process, out: File): Window {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (true) {
            val ids = x.tryRun("search", "--onlyvisible", "--name", "^SmartControl$")?.lines()?.filter { it.isNotBlank() }.orEmpty()
            val windows = ids.mapNotNull { id ->
                val g = x.tryRun("getwindowgeometry", "--shell", id) ?: return@mapNotNull null
                val v = g.lines().filter { '=' in it }.associate { it.substringBefore('=') to it.substringAfter('=').trim() }
                Window(id, v["X"]!!.toInt(), v["Y"]!!.toInt(), v["WIDTH"]!!.toInt(), v["HEIGHT"]!!.toInt())
            }.filter { it.width > 100 && it.height > 100 }
            windows.maxByOrNull { it.width * it.height }?.let { return it }
            check(app.isAlive) { "the app exited before its window appeared: ${out.readText()}" }
            check(System.nanoTime() < deadline) { "no SmartControl window within 30 s: ${out.readText()}" }
            Thread.sleep(200)
        }
    }

    /** Grabs until two frames 400 ms apart are equal (the list has settled), at most 20 s. */
    private fun awaitStable(fbDir: File, window: Window): BufferedImage {
        var last = grab(fbDir, window)
        repeat(50) {
            Thread.sleep(400)
            val next = grab(fbDir, window)
            if (differingFraction(last, next) == 0.0) return next
            last = next
        }
        return last
    }

    /** The [window]'s rectangle of Xvfb's frame buffer (an XWD dump: header, colour map, ZPixmap pixels). */
    private fun grab(fbDir: File, window: Window): BufferedImage {
        val bytes = RandomAccessFile(File(fbDir, "Xvfb_screen0"), "r").use { f -> ByteArray(f.length().toInt()).also { f.readFully(it) } }
        val header = ByteBuffer.wrap(bytes).order(ByteOrder.BIG_ENDIAN)
        fun field(i: Int) = header.getInt(i * 4)
        val headerSize = field(0)
        check(field(1) == 7 && field(2) == 2) { "Xvfb_screen0 is not an XWD v7 ZPixmap" }
        val width = field(4)
        val height = field(5)
        val lsbFirst = field(7) == 0
        val bitsPerPixel = field(11)
        val bytesPerLine = field(12)
        val ncolors = field(19)
        check(bitsPerPixel == 32) { "Xvfb frame buffer has $bitsPerPixel bits per pixel, expected 32 (-screen 0 1280x900x24)" }
        val pixels = ByteBuffer.wrap(bytes, headerSize + ncolors * 12, bytesPerLine * height)
            .order(if (lsbFirst) ByteOrder.LITTLE_ENDIAN else ByteOrder.BIG_ENDIAN)
        val x0 = window.x.coerceIn(0, width - 1)
        val y0 = window.y.coerceIn(0, height - 1)
        val w = window.width.coerceAtMost(width - x0)
        val h = window.height.coerceAtMost(height - y0)
        val image = BufferedImage(w, h, BufferedImage.TYPE_INT_RGB)
        val base = headerSize + ncolors * 12
        for (y in 0 until h) for (x in 0 until w) {
            image.setRGB(x, y, pixels.getInt(base + (y0 + y) * bytesPerLine + (x0 + x) * 4) and 0xffffff)
        }
        return image
    }

    private fun differingFraction(a: BufferedImage, b: BufferedImage): Double {
        if (a.width != b.width || a.height != b.height) return 1.0
        var diff = 0
        for (y in 0 until a.height step 2) for (x in 0 until a.width step 2) if (a.getRGB(x, y) != b.getRGB(x, y)) diff++
        return diff.toDouble() / (((a.width + 1) / 2) * ((a.height + 1) / 2))
    }

    /** Not blank: at least a few colours, and more than 1 pixel in 200 other than the background's. */
    private fun assertNotBlank(what: String, img: BufferedImage) {
        val counts = HashMap<Int, Int>()
        for (y in 0 until img.height step 2) for (x in 0 until img.width step 2) counts.merge(img.getRGB(x, y), 1, Int::plus)
        val total = counts.values.sum()
        val other = total - counts.values.max()
        assertTrue(counts.size >= 3 && other > total / 200, "$what renders blank: ${counts.size} colours, $other of $total pixels differ")
    }

}
