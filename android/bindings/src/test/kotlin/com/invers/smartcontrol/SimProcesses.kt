// SimProcesses.kt: starts the real sim-cloud and sim-device binaries for the JVM tests and talks to their admin surfaces.
package com.invers.smartcontrol

import java.io.File
import java.net.HttpURLConnection
import java.net.URI
import java.nio.ByteBuffer
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec

/** Where cargo put the binaries (surefire passes `smartcontrol.bin.dir`). */
val binDir: File = File(System.getProperty("smartcontrol.bin.dir") ?: "../../target/debug")

/** A child process whose first stdout line matching [pattern] told us its address. */
class SimProcess(val process: Process, val address: String, val stderr: File) : AutoCloseable {
    override fun close() {
        process.destroy()
        if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly()
    }
}

private fun start(binary: String, args: List<String>, pattern: Regex): SimProcess {
    val exe = File(binDir, binary)
    require(exe.canExecute()) { "$exe not found: cargo build -p smartcontrol-sim-cloud -p smartcontrol-sim-device" }
    val stderr = Files.createTempFile(binary, ".log").toFile()
    val pb = ProcessBuilder(listOf(exe.path) + args)
        .redirectError(ProcessBuilder.Redirect.to(stderr))
    pb.environment()["NO_COLOR"] = "1"
    pb.environment()["RUST_LOG"] = "info"
    val process = pb.start()
    val reader = process.inputStream.bufferedReader()
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
    while (System.nanoTime() < deadline) {
        val line = reader.readLine() ?: break
        pattern.find(line)?.let { m ->
            // Keep draining stdout so the child never blocks on a full pipe.
            Thread { reader.forEachLine { } }.apply { isDaemon = true }.start()
            return SimProcess(process, m.groupValues[1], stderr)
        }
    }
    process.destroyForcibly()
    error("$binary did not announce its address; stderr: ${stderr.readText()}")
}

/** A sim-cloud process on a free loopback port, seeded with `demo` or `bulk:N`. */
class SimCloudProcess(seed: String) : AutoCloseable {
    private val sim = start("sim-cloud", listOf("--listen", "127.0.0.1:0", "--seed", seed), Regex("listening on (\\S+)"))
    val url: String = sim.address

    /** The technician `seed_bulk` created (its e-mail has a random suffix, logged at start). */
    fun bulkTechnician(): String {
        repeat(100) {
            Regex("bulk-tech-[0-9a-f]+@bulk\\.test").find(sim.stderr.readText())?.let { return it.value }
            Thread.sleep(50)
        }
        error("no bulk technician in the sim-cloud log")
    }

    fun http(method: String, path: String, body: String? = null, token: String? = null): String {
        val c = URI(url + path).toURL().openConnection() as HttpURLConnection
        c.requestMethod = method
        c.setRequestProperty("Content-Type", "application/json")
        token?.let { c.setRequestProperty("Authorization", "Bearer $it") }
        if (body != null) {
            c.doOutput = true
            c.outputStream.use { it.write(body.toByteArray()) }
        }
        val code = c.responseCode
        val text = (if (code < 400) c.inputStream else c.errorStream)?.bufferedReader()?.readText() ?: ""
        check(code < 400) { "$method $path: HTTP $code $text" }
        return text
    }

    /** The fleet's Ed25519 public key (what its CloudBoxxes are provisioned with), via the provider API. */
    fun fleetPublicKey(fleetName: String): String {
        val login = http("POST", "/api/v1/auth/login", """{"email":"provider@demo.test","password":"demo"}""")
        val token = Regex("\"access_token\"\\s*:\\s*\"([^\"]+)\"").find(login)!!.groupValues[1]
        val fleets = http("GET", "/api/v1/provider/fleets", token = token)
        val fleet = Regex("\\{[^}]*\"name\"\\s*:\\s*\"${Regex.escape(fleetName)}\"[^}]*\\}").find(fleets)!!.value
        return Regex("\"public_key\"\\s*:\\s*\"([0-9a-f]{64})\"").find(fleet)!!.groupValues[1]
    }

    /** Every technician request is cut (connection reset) until [online]. */
    fun offline() { http("POST", "/_sim/faults", """{"reset_rate":1.0}""") }

    fun online() { http("POST", "/_sim/faults", "{}") }

    override fun close() = sim.close()
}

/** A CloudBoxx and the vehicle it sits in (the VIN and model code the vehicle reports). */
data class SimUnit(val serial: String, val vin: String, val model: String = "")

/** A sim-device process serving healthy CloudBoxxes of one fleet over TCP, each in its vehicle. */
class SimDeviceProcess(fleetPublicKey: String, units: List<SimUnit>) : AutoCloseable {
    private val sim = start(
        "sim-device",
        listOf("--listen", "127.0.0.1:0", "--fleet-public-key", fleetPublicKey) +
            units.flatMap { listOf("--device", "${it.serial},vin=${it.vin},model=${it.model}") },
        Regex("listening on (\\S+)"),
    )
    val host: String = sim.address.substringBeforeLast(':')
    val port: Int = sim.address.substringAfterLast(':').toInt()

    override fun close() = sim.close()
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret: Ben's second factor. */
fun totp(base32Secret: String, at: Long = System.currentTimeMillis() / 1000): String {
    val alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    var buffer = 0
    var bits = 0
    val key = mutableListOf<Byte>()
    for (c in base32Secret.uppercase().filter { it != '=' }) {
        buffer = (buffer shl 5) or alphabet.indexOf(c)
        bits += 5
        if (bits >= 8) {
            key.add((buffer shr (bits - 8) and 0xff).toByte())
            bits -= 8
        }
    }
    val mac = Mac.getInstance("HmacSHA1")
    mac.init(SecretKeySpec(key.toByteArray(), "HmacSHA1"))
    val hash = mac.doFinal(ByteBuffer.allocate(8).putLong(at / 30).array())
    val offset = hash.last().toInt() and 0x0f
    val code = ((hash[offset].toInt() and 0x7f) shl 24) or ((hash[offset + 1].toInt() and 0xff) shl 16) or
        ((hash[offset + 2].toInt() and 0xff) shl 8) or (hash[offset + 3].toInt() and 0xff)
    return "%06d".format(code % 1_000_000)
}
