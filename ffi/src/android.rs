//! Android only: the JNI entry point the app calls once at start-up
//! (`com.invers.smartcontrol.ffi.Native.init(context)`), and attaching the
//! core's runtime threads to the JVM once.
//!
//! Why: UniFFI calls through JNA, which never hands Rust a `JNIEnv`; the
//! rustls platform verifier (reqwest's certificate checks use the Android
//! trust store through Java) needs the JavaVM and the app `Context` first,
//! and btleplug's Android backend (when built in) needs
//! `btleplug::platform::init` with a `JNIEnv` on a Java thread. JNA attaches
//! a native thread for each callback and detaches it afterwards unless it
//! is already attached; attaching the runtime's threads once, as they
//! start, makes every later callback cheap.
//!
//! On other platforms these are no-ops.

/// Runs on every new runtime thread (see `runtime()` in lib.rs).
#[cfg(not(target_os = "android"))]
pub(crate) fn on_runtime_thread_start() {}

#[cfg(target_os = "android")]
pub(crate) fn on_runtime_thread_start() {
    // Threads started before `Native.init` stay unattached; JNA attaches
    // them per callback then (slower, still correct).
    if let Ok(vm) = jni::JavaVM::singleton() {
        let attached =
            vm.attach_current_thread(|_env| -> Result<(), jni::errors::Error> { Ok(()) });
        if let Err(e) = attached {
            tracing::warn!(error = %e, "cannot attach a core thread to the JVM");
        }
    }
}

#[cfg(target_os = "android")]
mod jni_entry {
    use jni::objects::{JClass, JObject};
    use jni::EnvUnowned;

    /// `Native.init(context)`: call once, from a Java thread (e.g.
    /// `Application.onCreate`), before opening the core.
    // SAFETY: `no_mangle` exports this symbol for the JVM's native method
    // lookup; the name is unique in the library and the signature matches
    // the Kotlin declaration `external fun init(context: Context)` in class
    // `com.invers.smartcontrol.ffi.Native`. No raw pointer is touched:
    // `EnvUnowned::with_env` validates the env and catches panics so none
    // unwinds into the JVM.
    #[allow(unsafe_code)]
    #[unsafe(no_mangle)]
    pub extern "system" fn Java_com_invers_smartcontrol_ffi_Native_init<'local>(
        mut unowned_env: EnvUnowned<'local>,
        _class: JClass<'local>,
        context: JObject<'local>,
    ) {
        unowned_env
            .with_env(|env| -> jni::errors::Result<()> {
                rustls_platform_verifier::android::init_with_env(env, context)?;
                #[cfg(feature = "btleplug")]
                if let Err(e) = btleplug::platform::init(env) {
                    // BLE through the app's own BleTransport still works.
                    tracing::warn!(error = %e, "btleplug could not start on this device");
                }
                Ok(())
            })
            .resolve::<jni::errors::ThrowRuntimeExAndDefault>()
    }
}
