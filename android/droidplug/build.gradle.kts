// droidplug/build.gradle.kts: btleplug's Android Java classes (BLE through android.bluetooth, called from Rust over
// JNI) as a library. scripts/build-android-libs copies them from the btleplug crate Cargo.lock resolved, so the Java
// and Rust halves always match; the build stops with that instruction when they are missing.
plugins {
    alias(libs.plugins.android.library)
}

val copiedJava = layout.projectDirectory.dir("src/main/java")

android {
    namespace = "com.nonpolynomial.btleplug.android"
    compileSdk = 36
    defaultConfig { minSdk = 26 }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }
}

val checkCopied by tasks.registering {
    val dir = copiedJava.asFile
    doLast {
        if (dir.walkTopDown().none { it.extension == "java" }) {
            throw GradleException("btleplug's Java sources are missing in $dir: run scripts/build-android-libs first")
        }
    }
}
tasks.named("preBuild") { dependsOn(checkCopied) }
