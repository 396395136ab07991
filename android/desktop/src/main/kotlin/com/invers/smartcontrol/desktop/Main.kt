// Main.kt: smartcontrol-desktop: the shared SmartControl screens in a Compose Desktop window on the real core.
package com.invers.smartcontrol.desktop

import androidx.compose.foundation.isSystemInDarkTheme
import androidx.compose.ui.unit.DpSize
import androidx.compose.ui.unit.dp
import androidx.compose.ui.window.Window
import androidx.compose.ui.window.application
import androidx.compose.ui.window.rememberWindowState
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import com.invers.smartcontrol.ffi.LogLevel
import com.invers.smartcontrol.ffi.LogRecord
import com.invers.smartcontrol.ffi.LogSink
import com.invers.smartcontrol.ui.AppState
import com.invers.smartcontrol.ui.JobsState
import com.invers.smartcontrol.ui.Screen
import com.invers.smartcontrol.ui.SmartControlApp
import com.invers.smartcontrol.ui.Str
import com.invers.smartcontrol.ui.SmartControlTheme
import com.invers.smartcontrol.ui.forTechnician
import com.invers.smartcontrol.ui.stringsFor
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.collectLatest
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.launch
import java.io.File
import java.io.FileOutputStream
import java.io.PrintStream
import java.nio.file.Files
import java.nio.file.attribute.PosixFilePermissions
import java.time.Instant
import kotlin.system.exitProcess

/**
 * The core's log records and the app's own lines, one per line (`time LEVEL target: message`), to a file
 * (appended) or stderr. Called on core threads: each line is written whole and flushed.
 */
class LineLogSink(private val out: PrintStream) : LogSink {
    override fun log(record: LogRecord) = line(record.level, record.target, record.message)

    fun line(level: LogLevel, target: String, message: String) = synchronized(out) {
        out.println("${Instant.now()} ${level.name.padEnd(5)} $target: $message")
        out.flush()
    }

    fun info(message: String) = line(LogLevel.INFO, "smartcontrol_desktop", message)

    companion object {
        /** A sink on [file] (created with its directory), or on stderr when [file] is null. */
        fun open(file: File?): LineLogSink {
            if (file == null) return LineLogSink(System.err)
            file.absoluteFile.parentFile?.mkdirs()
            return LineLogSink(PrintStream(FileOutputStream(file, true), true, Charsets.UTF_8))
        }
    }
}

fun main(args: Array<String>) {
    val options = try {
        parseArgs(args)
    } catch (_: HelpRequested) {
        println(USAGE)
        return
    } catch (e: UsageException) {
        System.err.println("smartcontrol-desktop: ${e.message}\n\n$USAGE")
        exitProcess(2)
    }
    val code = run(options)
    if (code != 0) exitProcess(code)
}

/** Opens the core and the window; returns the exit status once the window is closed (1: could not start). */
fun run(options: DesktopOptions): Int {
    if (!options.dataDir.isDirectory) {
        if (!options.dataDir.mkdirs()) {
            System.err.println("smartcontrol-desktop: cannot create the data directory ${options.dataDir} (choose another with --data-dir)")
            return 1
        }
        // The technician's jobs, outbox and session are for this user only (secrets/ is 0700 by the core).
        try {
            Files.setPosixFilePermissions(options.dataDir.toPath(), PosixFilePermissions.fromString("rwx------"))
        } catch (_: UnsupportedOperationException) {
            // not a POSIX file system: its default permissions apply
        }
    }
    val log = try {
        LineLogSink.open(options.logFile)
    } catch (e: java.io.IOException) {
        System.err.println("smartcontrol-desktop: cannot write the log ${options.logFile}: ${e.message} (choose another with --log, or --log -)")
        return 1
    }
    val core = try {
        SmartControl.setLogSink(log, options.logLevel)
        openDesktopCore(options.dataDir, options.serverUrl)
    } catch (e: UnsatisfiedLinkError) {
        System.err.println(
            "smartcontrol-desktop: cannot load the SmartControl core library (libsmartcontrol_ffi): ${e.message}\n" +
                "Build it with `cargo build --release -p smartcontrol-ffi` and pass its directory as " +
                "-Djna.library.path=<target>/release (scripts/smartcontrol-desktop does both).",
        )
        return 1
    } catch (e: SmartControlException) {
        System.err.println("smartcontrol-desktop: cannot open the local store in ${options.dataDir}: ${e.forTechnician()}")
        return 1
    }
    log.info("core opened: server ${options.serverUrl}, data dir ${options.dataDir}")

    val scope = CoroutineScope(SupervisorJob() + Dispatchers.Main)
    val strings = stringsFor()
    val app = AppState(core, scope, strings)
    // The app's own log: which screen is shown, how many jobs the list holds, where sync stands.
    scope.launch {
        app.stack.map { it.last() }.distinctUntilChanged().collectLatest { screen ->
            log.info("screen: $screen")
            if (screen == Screen.Jobs) {
                (app.holder(screen) as JobsState).page.collect { log.info("job list: ${it.jobs.size} of ${it.total} jobs") }
            }
        }
    }
    scope.launch {
        app.status.collect { s ->
            log.info("sync: ${s.state}, logged in ${s.loggedIn}, ${s.pendingActions} pending, last sync ${s.lastSyncAt ?: "never"}")
        }
    }

    try {
        application {
            Window(
                onCloseRequest = ::exitApplication,
                title = strings.get(Str.APP_NAME),
                state = rememberWindowState(size = DpSize(480.dp, 800.dp)),
            ) {
                SmartControlTheme(isSystemInDarkTheme(), strings) {
                    SmartControlApp(app)
                }
            }
        }
    } finally {
        scope.cancel()
        core.close()
        log.info("closed")
    }
    return 0
}

/**
 * The core as the desktop app opens it: no secret store (the core keeps the phone key in <data-dir>/secrets,
 * files of mode 0600) and no BLE transport, so the installation workflow uses the library's built-in btleplug
 * driver (BlueZ on the D-Bus system bus on Linux, or the bus `DBUS_SYSTEM_BUS_ADDRESS` names).
 */
fun openDesktopCore(dataDir: java.io.File, serverUrl: String): SmartControl = SmartControl.open(dataDir, serverUrl)
