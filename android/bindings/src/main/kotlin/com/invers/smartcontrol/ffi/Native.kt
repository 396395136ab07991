// Native.kt: Android's one-time JNI start-up call into the library (see ffi/src/android.rs); unused on the JVM.
package com.invers.smartcontrol.ffi

/**
 * Call `Native.init(applicationContext)` once, from `Application.onCreate`,
 * before opening the core on Android. It hands the JVM and the app Context
 * to the Rust side: the rustls platform verifier checks HTTPS certificates
 * with Android's trust store, btleplug's Android backend gets its JNIEnv, and
 * the core's runtime threads attach to the JVM once instead of per callback.
 * Not needed (and not available) on desktop JVMs.
 */
object Native {
    init {
        System.loadLibrary("smartcontrol_ffi")
    }

    /** [context]: an `android.content.Context` (typed `Any` so this compiles on the JVM). */
    @JvmStatic
    external fun init(context: Any)
}
