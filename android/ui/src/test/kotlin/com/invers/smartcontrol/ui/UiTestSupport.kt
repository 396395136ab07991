// UiTestSupport.kt: what the Compose UI tests share: the app on a real core, semantics checks, and PNG renders of screens.
package com.invers.smartcontrol.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.material3.Surface
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.ImageComposeScene
import androidx.compose.ui.Modifier
import androidx.compose.ui.semantics.SemanticsActions
import androidx.compose.ui.semantics.SemanticsProperties
import androidx.compose.ui.semantics.getOrNull
import androidx.compose.ui.test.SemanticsMatcher
import androidx.compose.ui.test.SemanticsNodeInteraction
import androidx.compose.ui.test.junit4.ComposeContentTestRule
import androidx.compose.ui.test.onRoot
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.printToString
import androidx.compose.ui.test.performScrollTo
import androidx.compose.ui.unit.Density
import com.invers.smartcontrol.MapSecretStore
import com.invers.smartcontrol.SimCloudProcess
import com.invers.smartcontrol.SmartControl
import org.jetbrains.skia.EncodedImageFormat
import java.io.ByteArrayInputStream
import java.io.File
import java.util.Locale
import javax.imageio.ImageIO

val ENGLISH = stringsFor(Locale.ENGLISH)
val GERMAN = stringsFor(Locale.GERMAN)

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
}

val screensDir: File = File(System.getProperty("smartcontrol.screens.dir") ?: "../../docs/screens")

/**
 * Renders [screen] of [app] (its live state holder) at phone size, 411 x 891 dp at density 2, in the light and
 * the dark theme, into docs/screens/<name>-light.png and -dark.png; fails if a render is blank.
 */
fun renderScreen(name: String, app: AppState, screen: Screen, strings: Strings = app.strings) {
    screensDir.mkdirs()
    for (dark in listOf(false, true)) {
        val scene = ImageComposeScene(width = 822, height = 1782, density = Density(2f)) {
            SmartControlTheme(dark, strings) {
                Surface(Modifier.fillMaxSize()) {
                    val status by app.status.collectAsState()
                    Column(Modifier.fillMaxSize()) {
                        if (screen != Screen.Login) OfflineBanner(status, onOpenConflicts = {})
                        ScreenContent(app, screen)
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
        File(screensDir, "$name-${if (dark) "dark" else "light"}.png").writeBytes(png)
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
