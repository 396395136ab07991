// SmartControlApp.kt: process start-up: the JNI init of the native core, the log sink, and the one SmartControl facade.
package com.invers.smartcontrol.app

import android.app.Application
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.ffi.LogLevel
import com.invers.smartcontrol.ffi.Native

/**
 * Owns the process-wide [SmartControl] core. `Native.init` runs first, on the main (a Java) thread: it hands
 * the JVM and the Context to Rust (Android trust store for HTTPS, btleplug's JNIEnv, runtime threads attached
 * once), which must happen before the core's runtime starts.
 */
class SmartControlApp : Application() {

    /** The facade every screen's ViewModel uses. Opened once; lives as long as the process. */
    lateinit var core: SmartControl
        private set

    override fun onCreate() {
        super.onCreate()
        Native.init(this)
        SmartControl.setLogSink(LogcatSink, if (BuildConfig.DEBUG) LogLevel.DEBUG else LogLevel.INFO)
        core = SmartControl.open(
            dataDir = filesDir,
            serverUrl = BuildConfig.CLOUD_URL,
            secretStore = KeystoreSecretStore(this),
        )
    }
}
