// PrivateBluez.kt: test helpers shared by the desktop tests: tools on PATH, a private D-Bus system bus, sim-device --bluez on it.
package com.invers.smartcontrol.desktop

import com.invers.smartcontrol.binDir
import java.io.File
import java.util.concurrent.TimeUnit

/** The path of [name] on PATH, or an AssertionError naming the apt package that has it. */
internal fun requireTool(name: String, aptPackage: String): String =
    System.getenv("PATH").orEmpty().split(File.pathSeparator).map { File(it, name) }.firstOrNull { it.canExecute() }?.path
        ?: throw AssertionError("$name not found on PATH: the desktop tests need it (apt-get install -y --no-install-recommends $aptPackage)")

/** A private dbus-daemon of type system in [dir] (added to [procs]); its address. */
internal fun startPrivateBus(daemon: String, dir: File, procs: MutableList<Process>): String {
    dir.mkdirs()
    val conf = File(dir, "bus.conf")
    conf.writeText(
        """
        <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
         "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
        <busconfig>
          <type>system</type>
          <listen>unix:dir=${dir.path}</listen>
          <auth>EXTERNAL</auth>
          <policy context="default">
            <allow user="*"/> <allow own="*"/>
            <allow send_destination="*" eavesdrop="true"/>
            <allow receive_sender="*"/> <allow eavesdrop="true"/>
          </policy>
        </busconfig>
        """.trimIndent(),
    )
    val p = ProcessBuilder(daemon, "--config-file=${conf.path}", "--nofork", "--nopidfile", "--print-address=1")
        .redirectError(File(dir, "dbus.log")).start()
    procs.add(p)
    val line = readLineWithin(p, 10) ?: error("dbus-daemon printed no address: ${File(dir, "dbus.log").readText()}")
    return line.trim()
}

/** `sim-device --bluez` owning org.bluez on [bus], serving [devices] (`SERIAL[,vin=VIN][,model=MODEL]`). */
internal fun startSimBluez(bus: String, fleetKey: String, devices: List<String>, log: File, procs: MutableList<Process>) {
    val exe = File(binDir, "sim-device")
    require(exe.canExecute()) { "$exe not found: cargo build -p smartcontrol-sim-device" }
    val pb = ProcessBuilder(listOf(exe.path, "--bluez", "--bus", bus, "--fleet-public-key", fleetKey) + devices.flatMap { listOf("--device", it) })
        .redirectError(log)
    pb.environment()["NO_COLOR"] = "1"
    val p = pb.start()
    procs.add(p)
    val reader = p.inputStream.bufferedReader()
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
    while (System.nanoTime() < deadline) {
        val line = reader.readLine() ?: break
        if (line.startsWith("sim-device bluez serving")) {
            Thread { reader.forEachLine { } }.apply { isDaemon = true }.start()
            return
        }
    }
    error("sim-device --bluez did not start: ${log.readText()}")
}

internal fun readLineWithin(p: Process, seconds: Long): String? {
    var line: String? = null
    val t = Thread { line = p.inputStream.bufferedReader().readLine() }.apply { isDaemon = true; start() }
    t.join(seconds * 1000)
    return line
}
