// settings.gradle.kts: the SmartControl Android build (app, the facade as an Android library, btleplug's Java side).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
        // The Kotlin half of rustls-platform-verifier (reqwest's certificate checks on Android), see
        // bindings-android/build.gradle.kts.
        maven { url = uri("https://github.com/rustls/rustls-platform-verifier/raw/maven-archive/android-release-support/maven/") }
    }
}

rootProject.name = "SmartControl"

// :app                the Compose app
// :bindings-android   the generated Kotlin + the facade (sources shared with the Maven JVM module android/bindings)
// :droidplug          btleplug's Android Java classes (copied from the btleplug crate by scripts/build-android-libs)
include(":app", ":bindings-android", ":droidplug")
