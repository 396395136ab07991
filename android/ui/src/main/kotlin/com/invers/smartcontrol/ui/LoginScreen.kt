// LoginScreen.kt: sign-in (email, password, and the 6-digit code once the core says the account needs one).
package com.invers.smartcontrol.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.heading
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

data class LoginUi(
    val email: String = "",
    val password: String = "",
    val totp: String = "",
    /** The core answered `totp_required` (or `invalid_totp`): the account uses two-factor authentication. */
    val totpRequired: Boolean = false,
    val busy: Boolean = false,
    val error: String? = null,
    /** Signed in: the screen navigates on. */
    val done: Boolean = false,
)

/** The login form's state, on [scope]. */
class LoginState(private val core: SmartControl, private val scope: CoroutineScope) {
    private val _ui = MutableStateFlow(LoginUi())
    val ui: StateFlow<LoginUi> = _ui.asStateFlow()

    fun edit(transform: LoginUi.() -> LoginUi) = _ui.update { it.transform().copy(error = null) }

    fun submit() {
        val form = _ui.value
        if (form.busy) return
        _ui.update { it.copy(busy = true, error = null) }
        scope.launch {
            try {
                core.login(form.email.trim(), form.password, form.totp.trim().ifEmpty { null })
                _ui.update { it.copy(busy = false, done = true) }
            } catch (e: SmartControlException) {
                val needsCode = e.kind == "totp_required" || e.kind == "invalid_totp"
                _ui.update {
                    it.copy(busy = false, error = e.forTechnician(), totpRequired = it.totpRequired || needsCode)
                }
            }
        }
    }
}

@Composable
fun LoginScreen(state: LoginState, onLoggedIn: () -> Unit) {
    val ui by state.ui.collectAsState()
    LaunchedEffect(ui.done) { if (ui.done) onLoggedIn() }
    Column(
        Modifier.fillMaxSize().padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        Text(tr(Str.APP_NAME), style = MaterialTheme.typography.headlineMedium, modifier = Modifier.semantics { heading() })
        Text(tr(Str.LOGIN_HINT), style = MaterialTheme.typography.bodyMedium)
        OutlinedTextField(
            value = ui.email,
            onValueChange = { v -> state.edit { copy(email = v) } },
            label = { Text(tr(Str.EMAIL)) },
            singleLine = true,
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Email),
            modifier = Modifier.fillMaxWidth(),
        )
        OutlinedTextField(
            value = ui.password,
            onValueChange = { v -> state.edit { copy(password = v) } },
            label = { Text(tr(Str.PASSWORD)) },
            singleLine = true,
            visualTransformation = PasswordVisualTransformation(),
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
            modifier = Modifier.fillMaxWidth(),
        )
        if (ui.totpRequired) {
            OutlinedTextField(
                value = ui.totp,
                onValueChange = { v -> state.edit { copy(totp = v.filter(Char::isDigit).take(6)) } },
                label = { Text(tr(Str.TOTP)) },
                singleLine = true,
                keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.NumberPassword),
                modifier = Modifier.fillMaxWidth(),
            )
        }
        ErrorText(ui.error)
        val signIn = tr(Str.SIGN_IN)
        Button(
            onClick = state::submit,
            enabled = !ui.busy && ui.email.isNotBlank() && ui.password.isNotEmpty(),
            modifier = Modifier.fillMaxWidth().semantics { contentDescription = signIn },
        ) {
            if (ui.busy) CircularProgressIndicator(Modifier.padding(2.dp)) else Text(signIn)
        }
    }
}
