// MainActivity.kt: the single activity: theme, Bluetooth runtime permissions, the system back button, and the shared app UI.
package com.invers.smartcontrol.app

import android.Manifest
import android.content.pm.PackageManager
import android.os.Build
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.BackHandler
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.isSystemInDarkTheme
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.ui.Modifier
import androidx.core.content.ContextCompat
import androidx.lifecycle.viewmodel.compose.viewModel
import com.invers.smartcontrol.ui.SmartControlApp
import com.invers.smartcontrol.ui.SmartControlTheme

class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        val core = (application as SmartControlApp).core
        setContent {
            val vm: AppViewModel = viewModel { AppViewModel(core) }
            val app = vm.app
            val stack by app.stack.collectAsState()
            BackHandler(enabled = stack.size > 1) { app.back() }

            // The wizard asks for Bluetooth permissions through this hook; the answer goes back to it.
            val pending = remember { mutableStateOf<((Boolean) -> Unit)?>(null) }
            val ask = rememberLauncherForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) { granted ->
                pending.value?.invoke(granted.values.all { it })
                pending.value = null
            }
            val requestBle: ((Boolean) -> Unit) -> Unit = { onResult ->
                val missing = blePermissions().filter {
                    ContextCompat.checkSelfPermission(this, it) != PackageManager.PERMISSION_GRANTED
                }
                if (missing.isEmpty()) {
                    onResult(true)
                } else {
                    pending.value = onResult
                    ask.launch(missing.toTypedArray())
                }
            }

            SmartControlTheme(dark = isSystemInDarkTheme(), strings = app.strings) {
                Box(Modifier.fillMaxSize().safeDrawingPadding()) { SmartControlApp(app, requestBle) }
            }
        }
    }
}

/** Android 12+: BLUETOOTH_SCAN/CONNECT; older: location (BLE scans need it there). */
private fun blePermissions(): Array<String> =
    if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
        arrayOf(Manifest.permission.BLUETOOTH_SCAN, Manifest.permission.BLUETOOTH_CONNECT)
    } else {
        arrayOf(Manifest.permission.ACCESS_FINE_LOCATION)
    }
