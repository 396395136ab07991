// LoginScreen.kt: sign-in (email, password, and the 6-digit code once the core says the account needs one).
package com.invers.smartcontrol.app.ui

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
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import androidx.lifecycle.ViewModel
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewModelScope
import androidx.lifecycle.viewmodel.compose.viewModel
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.SmartControlException
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

class LoginViewModel(private val core: SmartControl) : ViewModel() {
    private val _ui = MutableStateFlow(LoginUi())
    val ui: StateFlow<LoginUi> = _ui.asStateFlow()

    fun edit(transform: LoginUi.() -> LoginUi) = _ui.update { it.transform().copy(error = null) }

    fun submit() {
        val form = _ui.value
        if (form.busy) return
        _ui.update { it.copy(busy = true, error = null) }
        viewModelScope.launch {
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
fun LoginScreen(core: SmartControl, onLoggedIn: () -> Unit) {
    val vm: LoginViewModel = viewModel { LoginViewModel(core) }
    val ui by vm.ui.collectAsStateWithLifecycle()
    LaunchedEffect(ui.done) { if (ui.done) onLoggedIn() }
    Column(
        Modifier.fillMaxSize().padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        Text("SmartControl", style = MaterialTheme.typography.headlineMedium)
        Text("Sign in with your technician account", style = MaterialTheme.typography.bodyMedium)
        OutlinedTextField(
            value = ui.email,
            onValueChange = { v -> vm.edit { copy(email = v) } },
            label = { Text("Email") },
            singleLine = true,
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Email),
            modifier = Modifier.fillMaxWidth(),
        )
        OutlinedTextField(
            value = ui.password,
            onValueChange = { v -> vm.edit { copy(password = v) } },
            label = { Text("Password") },
            singleLine = true,
            visualTransformation = PasswordVisualTransformation(),
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
            modifier = Modifier.fillMaxWidth(),
        )
        if (ui.totpRequired) {
            OutlinedTextField(
                value = ui.totp,
                onValueChange = { v -> vm.edit { copy(totp = v.filter(Char::isDigit).take(6)) } },
                label = { Text("6-digit code from your authenticator app") },
                singleLine = true,
                keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.NumberPassword),
                modifier = Modifier.fillMaxWidth(),
            )
        }
        ErrorText(ui.error)
        Button(
            onClick = vm::submit,
            enabled = !ui.busy && ui.email.isNotBlank() && ui.password.isNotEmpty(),
            modifier = Modifier.fillMaxWidth(),
        ) {
            if (ui.busy) CircularProgressIndicator(Modifier.padding(2.dp)) else Text("Sign in")
        }
    }
}
