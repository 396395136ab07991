// Options.kt: smartcontrol-desktop's command line (--server, --data-dir, --log, --log-level, --help).
package com.invers.smartcontrol.desktop

import com.invers.smartcontrol.ffi.LogLevel
import java.io.File
import java.net.URI
import java.net.URISyntaxException

/** What the command line asked for. [logFile] null: log to stderr. */
data class DesktopOptions(
    val serverUrl: String,
    val dataDir: File,
    val logFile: File?,
    val logLevel: LogLevel,
)

/** The command line was wrong; [message] says what and how to fix it (printed with the usage, exit status 2). */
class UsageException(message: String) : Exception(message)

/** `--help` was given: print [USAGE], exit 0. */
object HelpRequested : Exception("help requested") {
    private fun readResolve(): Any = HelpRequested
}

val USAGE = """
    |usage: smartcontrol-desktop --server URL [--data-dir DIR] [--log FILE|-] [--log-level LEVEL]
    |
    |The SmartControl technician app in a desktop window (the same screens as the Android app).
    |
    |  --server URL       the fleet cloud, http:// or https:// (e.g. http://127.0.0.1:8080 for sim-cloud)
    |  --data-dir DIR     local store, outbox and secrets (default: ${'$'}XDG_DATA_HOME/smartcontrol-desktop,
    |                     else ~/.local/share/smartcontrol-desktop); secrets are files of mode 0600 in
    |                     DIR/secrets, not a keychain
    |  --log FILE|-       where the core's and the app's log goes (default: DIR/smartcontrol-desktop.log;
    |                     - for stderr)
    |  --log-level LEVEL  error, warn, info (default), debug or trace
    |  --help             this text
    |
    |CloudBoxx units are reached through the core's built-in BLE driver (btleplug: BlueZ on the D-Bus
    |system bus; DBUS_SYSTEM_BUS_ADDRESS may name a private bus where sim-device --bluez runs).
    """.trimMargin()

/** The default data directory: `$XDG_DATA_HOME/smartcontrol-desktop`, else `~/.local/share/smartcontrol-desktop`. */
fun defaultDataDir(env: Map<String, String> = System.getenv(), home: String = System.getProperty("user.home")): File {
    val xdg = env["XDG_DATA_HOME"]?.takeIf { it.isNotBlank() && File(it).isAbsolute }
    return if (xdg != null) File(xdg, "smartcontrol-desktop") else File(home, ".local/share/smartcontrol-desktop")
}

/** Parses [args]; throws [UsageException] (what is wrong) or [HelpRequested]. */
fun parseArgs(args: Array<String>, defaultDir: () -> File = ::defaultDataDir): DesktopOptions {
    var server: String? = null
    var dataDir: File? = null
    var log: String? = null
    var level = LogLevel.INFO
    var i = 0
    fun value(flag: String): String {
        val v = args.getOrNull(++i) ?: throw UsageException("$flag needs a value")
        if (v.startsWith("--")) throw UsageException("$flag needs a value, got the option $v")
        return v
    }
    while (i < args.size) {
        val arg = args[i]
        val (flag, inline) = if (arg.startsWith("--") && '=' in arg) arg.substringBefore('=') to arg.substringAfter('=') else arg to null
        fun v() = inline ?: value(flag)
        when (flag) {
            "--help", "-h" -> throw HelpRequested
            "--server" -> server = v()
            "--data-dir" -> dataDir = File(v())
            "--log" -> log = v()
            "--log-level" -> {
                val name = v()
                level = LogLevel.entries.firstOrNull { it.name.equals(name, ignoreCase = true) }
                    ?: throw UsageException("--log-level: unknown level '$name' (error, warn, info, debug, trace)")
            }
            else -> throw UsageException("unknown argument '$arg'")
        }
        i++
    }
    val url = server ?: throw UsageException("--server URL is required (e.g. --server http://127.0.0.1:8080)")
    checkServerUrl(url)
    val dir = (dataDir ?: defaultDir()).absoluteFile
    val logFile = when (log) {
        null -> File(dir, "smartcontrol-desktop.log")
        "-" -> null
        else -> File(log).absoluteFile
    }
    return DesktopOptions(url.trimEnd('/'), dir, logFile, level)
}

private fun checkServerUrl(url: String) {
    val uri = try {
        URI(url)
    } catch (e: URISyntaxException) {
        throw UsageException("--server: '$url' is not a URL (${e.reason})")
    }
    if (uri.scheme?.lowercase() !in setOf("http", "https") || uri.host.isNullOrEmpty()) {
        throw UsageException("--server: '$url' is not an http:// or https:// URL with a host")
    }
}
