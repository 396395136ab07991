// app/build.gradle.kts: the SmartControl technician app (Jetpack Compose) on the facade module :bindings-android.
// libsmartcontrol_ffi.so per ABI comes from scripts/build-android-libs (cargo-ndk) into src/main/jniLibs.
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")

fun cloudUrl(key: String): String? = (findProperty(key) as String?)?.takeIf { it.isNotBlank() }

android {
    namespace = "com.invers.smartcontrol.app"
    // 36: the current AndroidX libraries (activity, core, Compose BOM) require compiling against it; the app still
    // targets 35 (runtime behaviour of Android 15).
    compileSdk = 36

    defaultConfig {
        applicationId = "com.invers.smartcontrol.app"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk { abiFilters += abis }
    }

    buildTypes {
        debug {
            val url = cloudUrl("smartcontrol.cloudUrl") ?: cloudUrl("smartcontrol.cloudUrl.debug") ?: "http://10.0.2.2:8080"
            buildConfigField("String", "CLOUD_URL", "\"$url\"")
        }
        release {
            // No silent default for production: -Psmartcontrol.cloudUrl=https://...
            val url = cloudUrl("smartcontrol.cloudUrl") ?: ""
            buildConfigField("String", "CLOUD_URL", "\"$url\"")
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    buildFeatures {
        compose = true
        buildConfig = true
    }

    // Explicit: the cargo-ndk output (scripts/build-android-libs), one directory per ABI.
    sourceSets["main"].jniLibs.srcDirs("src/main/jniLibs")
    // The screens, their state holders and the strings are shared with the JVM build (android/ui, Maven),
    // where they are compiled against Compose Multiplatform desktop and tested with createComposeRule.
    sourceSets["main"].kotlin.srcDirs("src/main/kotlin", "../ui/src/main/kotlin")

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17)
        // As android/ui/pom.xml: the shared screens use TopAppBar and PullToRefreshBox.
        freeCompilerArgs.add("-opt-in=androidx.compose.material3.ExperimentalMaterial3Api")
    }
}

val checkNativeLibs by tasks.registering {
    val dir = layout.projectDirectory.dir("src/main/jniLibs").asFile
    val wanted = abis
    doLast {
        val missing = wanted.filterNot { dir.resolve("$it/libsmartcontrol_ffi.so").isFile }
        if (missing.isNotEmpty()) {
            throw GradleException("libsmartcontrol_ffi.so missing for $missing in $dir: run scripts/build-android-libs")
        }
    }
}
tasks.named("preBuild") { dependsOn(checkNativeLibs) }

val checkReleaseUrl by tasks.registering {
    val url = cloudUrl("smartcontrol.cloudUrl")
    doLast {
        if (url == null) throw GradleException("release builds need -Psmartcontrol.cloudUrl=https://<the fleet cloud>")
    }
}
tasks.matching { it.name == "preReleaseBuild" }.configureEach { dependsOn(checkReleaseUrl) }

dependencies {
    implementation(project(":bindings-android"))
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.material3)
    implementation(libs.compose.ui.tooling.preview)
    debugImplementation(libs.compose.ui.tooling)
}
