// StringsTest.kt: the English and German tables have every key, with the same placeholders.
package com.invers.smartcontrol.ui

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.util.Locale

class StringsTest {
    private val placeholder = Regex("%(\\d+)\\\$[sd]")

    @Test
    fun `both tables have every key and the same placeholders`() {
        val all = Str.entries.toSet()
        assertEquals("English lacks keys", emptySet<Str>(), all - EN.keys)
        assertEquals("German lacks keys", emptySet<Str>(), all - DE.keys)
        for (key in Str.entries) {
            val en = placeholder.findAll(EN.getValue(key)).map { it.value }.toSet()
            val de = placeholder.findAll(DE.getValue(key)).map { it.value }.toSet()
            assertEquals("placeholders of $key", en, de)
            assertTrue("$key is empty in German", DE.getValue(key).isNotBlank())
        }
    }

    @Test
    fun `the locale picks the table at runtime`() {
        assertEquals("Anmelden", stringsFor(Locale.GERMANY).get(Str.SIGN_IN))
        assertEquals("Sign in", stringsFor(Locale.US).get(Str.SIGN_IN))
        assertEquals("Sign in", stringsFor(Locale.FRANCE).get(Str.SIGN_IN))
        assertEquals("3 Aktionen warten auf Sync", stringsFor(Locale.GERMAN).get(Str.PENDING_MANY, 3L))
    }
}
