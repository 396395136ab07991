// AppViewModel.kt: keeps the shared AppState (android/ui) alive across configuration changes, on viewModelScope.
package com.invers.smartcontrol.app

import androidx.lifecycle.ViewModel
import androidx.lifecycle.viewModelScope
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.ui.AppState
import com.invers.smartcontrol.ui.stringsFor

/**
 * The only ViewModel: every screen's state holder lives in [app] (plain Kotlin, shared with the JVM tests),
 * on this ViewModel's scope. Strings follow the device locale at start-up.
 */
class AppViewModel(core: SmartControl) : ViewModel() {
    val app = AppState(core, viewModelScope, stringsFor())
}
