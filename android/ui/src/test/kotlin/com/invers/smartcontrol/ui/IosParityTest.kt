// IosParityTest.kt: the SwiftUI app cannot be compiled here, so this keeps it in step with the Kotlin side: the
// Swift facade offers the Kotlin facade's operations, and the app's Localizable.strings are the Kotlin tables.
package com.invers.smartcontrol.ui

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

class IosParityTest {
    private val repo = File(System.getProperty("smartcontrol.repo.dir") ?: "../..")
    private val kotlinFacade = File(repo, "android/bindings/src/main/kotlin/com/invers/smartcontrol/SmartControl.kt")
    private val swiftFacade = File(repo, "ios/SmartControlKit/Sources/SmartControlKit/SmartControl.swift")
    private val swiftKeys = File(repo, "ios/SmartControlApp/Sources/Strings.swift")
    private fun lproj(lang: String) = File(repo, "ios/SmartControlApp/Resources/$lang.lproj/Localizable.strings")

    /**
     * Platform idioms, Kotlin name to Swift name: constructor and release, a StateFlow in a scope versus a
     * stream, Kotlin `val` flows versus Swift stream functions (documented in ios/README.md).
     */
    private val aliases = mapOf(
        "open" to "init",
        "close" to "deinit",
        "syncStatusIn" to "syncStatus",
        "pendingCountFlow" to "pendingCountStream",
    )

    private fun kotlinOperations(): Set<String> {
        val text = kotlinFacade.readText()
        // Members of the class and its companion (4 or 8 spaces in), not the listeners' callbacks inside them.
        val funs = Regex("""^(?: {4}| {8})(?:suspend\s+|override\s+)*fun\s+(?:<[^>]+>\s*)?(\w+)""", RegexOption.MULTILINE)
            .findAll(text).map { it.groupValues[1] }
        val vals = Regex("""^\s*val\s+(\w+)\s*:""", RegexOption.MULTILINE).findAll(text).map { it.groupValues[1] }
        val privateFuns = Regex("""^\s*private\s+(?:suspend\s+|inline\s+)*fun\s+(?:<[^>]+>\s*)?(\w+)""", RegexOption.MULTILINE)
            .findAll(text).map { it.groupValues[1] }.toSet()
        return (funs + vals).filter { it !in privateFuns }.map { aliases[it] ?: it }.toSet()
    }

    private fun swiftOperations(): Set<String> {
        val text = swiftFacade.readText().substringAfter("public final class SmartControl")
        val funcs = Regex("""^\s*public\s+(?:static\s+)?func\s+(\w+)""", RegexOption.MULTILINE).findAll(text).map { it.groupValues[1] }
        val inits = Regex("""^\s*public\s+init\s*\(""", RegexOption.MULTILINE).findAll(text).map { "init" }
        val deinit = Regex("""^\s*deinit\s*\{""", RegexOption.MULTILINE).findAll(text).map { "deinit" }
        return (funcs + inits + deinit).toSet()
    }

    @Test
    fun `the Swift facade offers the Kotlin facade's operations`() {
        val kotlin = kotlinOperations()
        val swift = swiftOperations()
        assertTrue("parsed too little: $kotlin", kotlin.size > 20)
        assertEquals("operations only in the Kotlin facade (add them to SmartControl.swift)", emptySet<String>(), kotlin - swift)
        assertEquals("operations only in the Swift facade (add them to SmartControl.kt)", emptySet<String>(), swift - kotlin)
    }

    @Test
    fun `the iOS strings are the Kotlin tables, key for key`() {
        val expected = mapOf("en" to EN, "de" to DE)
        val write = System.getProperty("smartcontrol.ios.write") == "true"
        if (write) {
            swiftKeys.writeText(swiftKeysSource())
            expected.forEach { (lang, table) -> lproj(lang).apply { parentFile.mkdirs() }.writeText(stringsFile(lang, table)) }
        }
        val hint = "regenerate: mvn ... -pl ui -Dtest=IosParityTest -Dsmartcontrol.ios.write=true"
        assertEquals("ios/SmartControlApp/Sources/Strings.swift ($hint)", swiftKeysSource(), swiftKeys.readText())
        expected.forEach { (lang, table) ->
            assertEquals("$lang.lproj/Localizable.strings ($hint)", stringsFile(lang, table), lproj(lang).readText())
        }
    }

    /**
     * Kotlin strings the Swift app has no use for, each with the reason (everything else must be shown by some
     * Swift view, or a screen element is missing on iOS).
     */
    private val notOnIos = mapOf(
        Str.REFRESH to "the job list syncs by pull to refresh (.refreshable), no button",
        Str.BACK to "NavigationStack draws its own back button",
        Str.BLE_DENIED to "iOS asks for Bluetooth itself (NSBluetoothAlwaysUsageDescription); a refusal is the core's BLE error message",
        Str.COMPLETED to "completing returns to the job detail, which shows the new status",
        Str.OK to "a refused logout shows the core's message in the job list's error line, not in a dialog",
    )

    @Test
    fun `every Kotlin string is shown by some Swift view, apart from the listed exceptions`() {
        val views = File(repo, "ios/SmartControlApp/Sources").listFiles { f -> f.name.endsWith(".swift") && f != swiftKeys }!!
        val text = views.joinToString("\n") { it.readText() }
        assertTrue("no Swift views in ${views.toList()}", views.size >= 4)
        val unused = Str.entries.filter { key -> !Regex("""\btr\(\s*\.${camel(key.name)}\b""").containsMatchIn(text) }.toSet()
        assertEquals(
            "Kotlin strings no Swift view shows (a screen element missing on iOS), or exceptions no longer needed",
            notOnIos.keys,
            unused,
        )
    }

    /** `%1$s` becomes `%1$@` (a Swift String argument), `%1$d` becomes `%1$lld` (an Int64 or Int). */
    private fun swiftFormat(text: String) = text
        .replace(Regex("%(\\d+)\\\$s"), "%$1\\$@")
        .replace(Regex("%(\\d+)\\\$d"), "%$1\\\$lld")
        .replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")

    private fun stringsFile(lang: String, table: Map<Str, String>) = buildString {
        append("/* Generated from android/ui/.../Strings.kt (${if (lang == "de") "DE" else "EN"}) by IosParityTest; do not edit. */\n")
        for (key in Str.entries) append("\"${key.name}\" = \"${swiftFormat(table.getValue(key))}\";\n")
    }

    private fun swiftKeysSource() = buildString {
        append("// Strings.swift: the keys of Localizable.strings, the same as the Kotlin `Str` enum (generated by\n")
        append("// android/ui IosParityTest from Strings.kt; do not edit). `tr(.signIn)` is the current language's text.\n")
        append("import Foundation\n\n")
        append("enum Str: String, CaseIterable {\n")
        for (key in Str.entries) append("    case ${camel(key.name)} = \"${key.name}\"\n")
        append("}\n\n")
        append("/// The text of `key` in the device's language (en or de), formatted with `args` (`%1\$@`, `%1\$lld`).\n")
        append("func tr(_ key: Str, _ args: CVarArg...) -> String {\n")
        append("    let format = NSLocalizedString(key.rawValue, comment: \"\")\n")
        append("    return args.isEmpty ? format : String(format: format, locale: Locale.current, arguments: args)\n")
        append("}\n")
    }

    private fun camel(name: String): String {
        val parts = name.lowercase().split('_')
        return parts.first() + parts.drop(1).joinToString("") { it.replaceFirstChar(Char::uppercase) }
    }
}
