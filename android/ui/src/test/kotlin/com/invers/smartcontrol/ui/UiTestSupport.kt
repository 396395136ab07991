// UiTestSupport.kt: what the Compose UI tests share: the app on a real core, semantics checks, and PNG renders of screens.
package com.invers.smartcontrol.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.material3.Surface
import androidx.compose.runtime.CompositionLocalProvider
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.ImageComposeScene
import androidx.compose.ui.Modifier
import androidx.compose.ui.semantics.SemanticsActions
import androidx.compose.ui.semantics.SemanticsProperties
import androidx.compose.ui.semantics.getOrNull
import androidx.compose.ui.text.TextLayoutResult
import androidx.compose.ui.test.SemanticsMatcher
import androidx.compose.ui.test.SemanticsNodeInteraction
import androidx.compose.ui.test.junit4.ComposeContentTestRule
import androidx.compose.ui.test.onRoot
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.printToString
import androidx.compose.ui.test.performScrollTo
import androidx.compose.ui.unit.Density
import androidx.compose.ui.unit.dp
import com.invers.smartcontrol.MapSecretStore
import com.invers.smartcontrol.SimCloudProcess
import com.invers.smartcontrol.SmartControl
import org.jetbrains.skia.EncodedImageFormat
import java.io.ByteArrayInputStream
import java.io.File
import java.time.LocalDate
import java.time.ZoneOffset
import java.time.temporal.ChronoUnit
import java.util.Locale
import javax.imageio.ImageIO

val ENGLISH = stringsFor(Locale.ENGLISH)
val GERMAN = stringsFor(Locale.GERMAN)

/** Width of the screens in the tests and renders (a common phone). */
val PHONE_WIDTH = 411.dp

/** The demo seed's technician with a second factor, and his TOTP secret (docs/sim-cloud.md). */
const val BEN = "ben@autotech.test"
const val BEN_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

fun openCore(dir: File, cloud: SimCloudProcess): SmartControl =
    SmartControl.open(dir, cloud.url, secretStore = MapSecretStore(), configure = {
        requestTimeoutMs = 5_000u
        retryAttempts = 1u
        retryBaseDelayMs = 5u
        retryMaxDelayMs = 10u
    })

/** Waits (up to [timeoutMs]) until at least one node matches, then returns it. */
fun ComposeContentTestRule.await(matcher: SemanticsMatcher, timeoutMs: Long = 10_000): SemanticsNodeInteraction {
    try {
        waitUntil(timeoutMs) { onAllNodes(matcher).fetchSemanticsNodes().isNotEmpty() }
    } catch (e: Throwable) {
        throw AssertionError("no node ${matcher.description} on screen:\n" + onRoot().printToString(), e)
    }
    return onAllNodes(matcher)[0]
}

/** Scrolls [matcher]'s node into view when it sits in a scrolling column, then clicks it. */
fun ComposeContentTestRule.click(matcher: SemanticsMatcher, timeoutMs: Long = 10_000) {
    val node = await(matcher, timeoutMs)
    try {
        node.performScrollTo()
    } catch (_: AssertionError) {
        // not in a scrolling container
    }
    node.performClick()
}

/**
 * No text on screen is cut: for every node that lays out text (Text, text fields, button labels), the layout
 * the node made ([SemanticsActions.GetTextLayoutResult]) has no line beyond its maximum lines or ellipsized, no
 * line wider than the node, and is not taller than the node. Nodes scrolled out of view are checked too (their
 * layout is the same).
 */
fun ComposeContentTestRule.assertNoTextOverflow(screen: String) {
    val nodes = onAllNodes(SemanticsMatcher.keyIsDefined(SemanticsActions.GetTextLayoutResult), useUnmergedTree = true)
        .fetchSemanticsNodes(atLeastOneRootRequired = false)
    val overflowing = mutableListOf<String>()
    val dp = density.density
    runOnIdle {
        for (n in nodes) {
            val results = mutableListOf<TextLayoutResult>()
            n.config[SemanticsActions.GetTextLayoutResult].action?.invoke(results)
            for (r in results) {
                if (r.layoutInput.text.isEmpty()) continue
                val lines = 0 until r.lineCount
                val why = when {
                    r.multiParagraph.didExceedMaxLines -> "more than ${r.layoutInput.maxLines} line(s)"
                    lines.any { r.isLineEllipsized(it) } -> "ellipsized"
                    // Width of the line's glyphs (aligned text may sit anywhere in a wider paragraph).
                    lines.any { r.getLineRight(it) - r.getLineLeft(it) > n.size.width + 1f } ->
                        "a line ${lines.maxOf { r.getLineRight(it) - r.getLineLeft(it) } / dp} dp wide in ${n.size.width / dp} dp"
                    r.multiParagraph.height > n.size.height + 1f ->
                        "${r.multiParagraph.height / dp} dp tall in ${n.size.height / dp} dp"
                    else -> null
                }
                if (why != null) overflowing += "'${r.layoutInput.text}': $why"
            }
        }
    }
    check(overflowing.isEmpty()) { "$screen: text cut off its bounds:\n" + overflowing.joinToString("\n") }
}

/**
 * Every clickable node on screen: a touch target of at least 48 x 48 dp and a label (its text or content
 * description) for screen readers. Nodes cut by the window edge are skipped (their visible bounds are smaller).
 */
fun ComposeContentTestRule.assertAccessible(screen: String) {
    val nodes = onAllNodes(SemanticsMatcher.keyIsDefined(SemanticsActions.OnClick)).fetchSemanticsNodes()
    check(nodes.isNotEmpty()) { "$screen: no controls" }
    val min = with(density) { 48f * this.density } - 0.5f
    for (n in nodes) {
        val visible = n.boundsInRoot
        if (visible.width + 0.5f < n.size.width || visible.height + 0.5f < n.size.height) continue
        val touch = n.touchBoundsInRoot
        val label = n.config.getOrNull(SemanticsProperties.ContentDescription)?.joinToString().orEmpty() +
            n.config.getOrNull(SemanticsProperties.Text)?.joinToString().orEmpty()
        check(touch.width >= min && touch.height >= min) {
            "$screen: control '$label' has a ${touch.width / density.density} x ${touch.height / density.density} dp touch target"
        }
        check(label.isNotBlank()) { "$screen: a control without text or content description at $visible" }
    }
    assertNoTextOverflow(screen)
}

/**
 * The clock of the renders: dates and timestamps from the core shown as if today were 2026-06-01 (a date keeps
 * its distance from today; a timestamp shows 09:30 UTC), so a render does not change from one day or minute to
 * the next.
 */
object FixedDates : DateText {
    private val base = LocalDate.of(2026, 6, 1)
    private val pattern = Regex("(\\d{4}-\\d{2}-\\d{2})(T[0-9:.]+(Z|[+-]\\d{2}:\\d{2})?)?")
    private val loopback = Regex("127\\.0\\.0\\.1:\\d+")
    override fun show(iso: String): String = pattern.replace(loopback.replace(iso, "127.0.0.1:8080")) { m ->
        val days = ChronoUnit.DAYS.between(LocalDate.now(ZoneOffset.UTC), LocalDate.parse(m.groupValues[1]))
        val date = base.plusDays(days).toString()
        if (m.groupValues[2].isEmpty()) date else "${date}T09:30:00Z"
    }
}

val screensDir: File = File(System.getProperty("smartcontrol.screens.dir") ?: "../../docs/screens")

/**
 * Renders [screen] of [app] (its live state holder) at phone size, 411 x 891 dp at density 2, in the light and
 * the dark theme, into docs/screens/<name>-light.png and -dark.png; fails if a render is blank. Dates show on
 * [FixedDates]' clock, and a file is only written when its bytes change, so runs on the same code leave the
 * committed PNGs as they are.
 */
fun renderScreen(name: String, app: AppState, screen: Screen, strings: Strings = app.strings) {
    screensDir.mkdirs()
    for (dark in listOf(false, true)) {
        val scene = ImageComposeScene(width = 822, height = 1782, density = Density(2f)) {
            SmartControlTheme(dark, strings) {
                CompositionLocalProvider(LocalDateText provides FixedDates) {
                Surface(Modifier.fillMaxSize()) {
                    val status by app.status.collectAsState()
                    Column(Modifier.fillMaxSize()) {
                        if (screen != Screen.Login) OfflineBanner(status, onOpenConflicts = {})
                        ScreenContent(app, screen)
                    }
                }
                }
            }
        }
        val png = try {
            var image = scene.render(0)
            for (frame in 1..6) {
                Thread.sleep(80)
                image = scene.render(frame * 100_000_000L)
            }
            image.encodeToData(EncodedImageFormat.PNG)!!.bytes
        } finally {
            scene.close()
        }
        assertNotBlank("$name (${if (dark) "dark" else "light"})", png)
        val file = File(screensDir, "$name-${if (dark) "dark" else "light"}.png")
        if (!file.exists() || !file.readBytes().contentEquals(png)) file.writeBytes(png)
    }
}

/** A render is blank when (almost) every pixel has the background's colour. */
fun assertNotBlank(what: String, png: ByteArray) {
    val img = ImageIO.read(ByteArrayInputStream(png))
    val counts = HashMap<Int, Int>()
    for (y in 0 until img.height step 2) for (x in 0 until img.width step 2) counts.merge(img.getRGB(x, y), 1, Int::plus)
    val total = counts.values.sum()
    val background = counts.values.max()
    val other = total - background
    check(counts.size >= 3 && other > total / 200) { "$what renders blank: ${counts.size} colours, $other of $total pixels differ" }
}
