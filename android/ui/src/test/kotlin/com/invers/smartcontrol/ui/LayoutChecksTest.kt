// LayoutChecksTest.kt: the semantics checks the flow tests run on every screen catch what they are meant to.
package com.invers.smartcontrol.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.layout.width
import androidx.compose.material3.Text
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.style.TextOverflow
import androidx.compose.ui.unit.dp
import androidx.compose.ui.test.junit4.createComposeRule
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test

class LayoutChecksTest {
    @get:Rule
    val rule = createComposeRule()

    private val long = "Zentralverriegelungsanschluss und CloudBoxx-Etikett-Scan"

    @Test
    fun `an ellipsized text fails the overflow check`() {
        rule.setContent { SmartControlTheme(dark = false) { Text(long, maxLines = 1, overflow = TextOverflow.Ellipsis, modifier = Modifier.width(80.dp)) } }
        val e = assertThrows(IllegalStateException::class.java) { rule.assertNoTextOverflow("probe") }
        assertTrue(e.message, e.message!!.contains(long))
    }

    @Test
    fun `a text clipped to one line fails the overflow check`() {
        rule.setContent { SmartControlTheme(dark = false) { Text(long, maxLines = 1, overflow = TextOverflow.Clip, modifier = Modifier.width(80.dp)) } }
        assertThrows(IllegalStateException::class.java) { rule.assertNoTextOverflow("probe") }
    }

    @Test
    fun `text that wraps inside its bounds passes`() {
        rule.setContent {
            SmartControlTheme(dark = false) {
                Column(Modifier.width(240.dp)) {
                    Text(long)
                    Box(Modifier.size(width = 60.dp, height = 48.dp).clickable {}) { Text("OK") }
                }
            }
        }
        rule.assertNoTextOverflow("wrapped")
    }
}
