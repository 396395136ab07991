// LogcatSink.kt: the core's tracing output to Logcat (the Rust module as the tag).
package com.invers.smartcontrol.app

import android.util.Log
import com.invers.smartcontrol.ffi.LogLevel
import com.invers.smartcontrol.ffi.LogRecord
import com.invers.smartcontrol.ffi.LogSink

/** Called on the thread that logged (often a core thread); Log.println neither blocks long nor calls back into the core. */
object LogcatSink : LogSink {
    override fun log(record: LogRecord) {
        val priority = when (record.level) {
            LogLevel.ERROR -> Log.ERROR
            LogLevel.WARN -> Log.WARN
            LogLevel.INFO -> Log.INFO
            LogLevel.DEBUG -> Log.DEBUG
            LogLevel.TRACE -> Log.VERBOSE
        }
        Log.println(priority, record.target, record.message)
    }
}
