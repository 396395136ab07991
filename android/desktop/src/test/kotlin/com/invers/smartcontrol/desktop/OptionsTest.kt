// OptionsTest.kt: smartcontrol-desktop's command line: defaults, each option, and what a wrong one says.
package com.invers.smartcontrol.desktop

import com.invers.smartcontrol.ffi.LogLevel
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.io.File

class OptionsTest {
    private val home = File("/home/tech/.local/share/smartcontrol-desktop")

    private fun parse(vararg args: String) = parseArgs(arrayOf(*args)) { home }

    private fun refused(vararg args: String): String = assertThrows<UsageException> { parse(*args) }.message!!

    @Test
    fun `server alone gives the per-user data dir and a log file in it`() {
        val o = parse("--server", "http://127.0.0.1:8080/")
        assertEquals("http://127.0.0.1:8080", o.serverUrl)
        assertEquals(home, o.dataDir)
        assertEquals(File(home, "smartcontrol-desktop.log"), o.logFile)
        assertEquals(LogLevel.INFO, o.logLevel)
    }

    @Test
    fun `every option, also in the --flag=value form`() {
        val o = parse("--server=https://cloud.example.com", "--data-dir", "/tmp/sc", "--log", "-", "--log-level=debug")
        assertEquals("https://cloud.example.com", o.serverUrl)
        assertEquals(File("/tmp/sc"), o.dataDir)
        assertNull(o.logFile)
        assertEquals(LogLevel.DEBUG, o.logLevel)
    }

    @Test
    fun `help, and wrong arguments say what is wrong`() {
        assertThrows<HelpRequested> { parse("--server", "http://x", "--help") }
        assertTrue(refused().contains("--server URL is required"))
        assertTrue(refused("--server").contains("--server needs a value"))
        assertTrue(refused("--server", "--data-dir", "/tmp").contains("got the option --data-dir"))
        assertTrue(refused("--server", "ftp://host").contains("not an http:// or https:// URL"))
        assertTrue(refused("--server", "127.0.0.1:8080").contains("--server: '127.0.0.1:8080' is not"))
        assertTrue(refused("--server", "http://x", "--verbose").contains("unknown argument '--verbose'"))
        assertTrue(refused("--server", "http://x", "--log-level", "loud").contains("unknown level 'loud'"))
    }

    @Test
    fun `default data dir follows XDG_DATA_HOME when it is absolute`() {
        assertEquals(File("/xdg/smartcontrol-desktop"), defaultDataDir(mapOf("XDG_DATA_HOME" to "/xdg"), "/home/t"))
        assertEquals(File("/home/t/.local/share/smartcontrol-desktop"), defaultDataDir(mapOf("XDG_DATA_HOME" to "rel"), "/home/t"))
        assertEquals(File("/home/t/.local/share/smartcontrol-desktop"), defaultDataDir(emptyMap(), "/home/t"))
    }
}
