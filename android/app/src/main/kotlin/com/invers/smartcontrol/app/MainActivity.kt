// MainActivity.kt: the single activity: theme, the offline banner above every signed-in screen, and navigation.
package com.invers.smartcontrol.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import androidx.compose.ui.Modifier
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import androidx.navigation.NavHostController
import androidx.navigation.NavType
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.currentBackStackEntryAsState
import androidx.navigation.compose.rememberNavController
import androidx.navigation.navArgument
import com.invers.smartcontrol.SmartControl
import com.invers.smartcontrol.app.ui.CompletionScreen
import com.invers.smartcontrol.app.ui.ConflictsScreen
import com.invers.smartcontrol.app.ui.InstallationScreen
import com.invers.smartcontrol.app.ui.JobDetailScreen
import com.invers.smartcontrol.app.ui.JobsScreen
import com.invers.smartcontrol.app.ui.LoginScreen
import com.invers.smartcontrol.app.ui.OfflineBanner

class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        val core = (application as SmartControlApp).core
        setContent {
            MaterialTheme {
                Surface(Modifier.fillMaxSize().safeDrawingPadding()) { SmartControlNav(core) }
            }
        }
    }
}

/** Routes; job ids travel as path arguments. */
private object Routes {
    const val LOGIN = "login"
    const val JOBS = "jobs"
    const val JOB = "job/{jobId}"
    const val INSTALL = "job/{jobId}/install"
    const val COMPLETE = "job/{jobId}/complete"
    const val CONFLICTS = "conflicts"
    fun job(id: String) = "job/$id"
    fun install(id: String) = "job/$id/install"
    fun complete(id: String) = "job/$id/complete"
}

@Composable
private fun SmartControlNav(core: SmartControl) {
    val app: AppViewModel = viewModel { AppViewModel(core) }
    val status by app.status.collectAsStateWithLifecycle()
    val logout by app.logout.collectAsStateWithLifecycle()
    val nav = rememberNavController()
    val route = nav.currentBackStackEntryAsState().value?.destination?.route
    // Decided once: changing a NavHost's start destination later would rebuild the graph.
    val start = remember { if (status.loggedIn) Routes.JOBS else Routes.LOGIN }

    // Signed out (logout, or the session ended): back to the login screen, whatever was open.
    LaunchedEffect(status.loggedIn) {
        if (!status.loggedIn && route != null && route != Routes.LOGIN) nav.goToLogin()
    }

    Column(Modifier.fillMaxSize()) {
        if (route != Routes.LOGIN) {
            OfflineBanner(status, onOpenConflicts = { nav.navigate(Routes.CONFLICTS) { launchSingleTop = true } })
        }
        NavHost(
            navController = nav,
            startDestination = start,
            modifier = Modifier.weight(1f),
        ) {
            composable(Routes.LOGIN) {
                LoginScreen(core, onLoggedIn = {
                    app.startSync()
                    nav.navigate(Routes.JOBS) { popUpTo(Routes.LOGIN) { inclusive = true } }
                })
            }
            composable(Routes.JOBS) {
                JobsScreen(
                    core,
                    onOpenJob = { nav.navigate(Routes.job(it)) },
                    onOpenConflicts = { nav.navigate(Routes.CONFLICTS) },
                    onLogout = { app.logout() },
                )
            }
            composable(Routes.JOB, arguments = listOf(navArgument("jobId") { type = NavType.StringType })) { entry ->
                val jobId = entry.arguments?.getString("jobId").orEmpty()
                JobDetailScreen(
                    core,
                    jobId,
                    onInstall = { nav.navigate(Routes.install(jobId)) },
                    onComplete = { nav.navigate(Routes.complete(jobId)) },
                    onBack = { nav.popBackStack() },
                )
            }
            composable(Routes.INSTALL, arguments = listOf(navArgument("jobId") { type = NavType.StringType })) { entry ->
                val jobId = entry.arguments?.getString("jobId").orEmpty()
                InstallationScreen(
                    core,
                    jobId,
                    onComplete = { nav.navigate(Routes.complete(jobId)) { popUpTo(Routes.JOB) } },
                    onBack = { nav.popBackStack() },
                )
            }
            composable(Routes.COMPLETE, arguments = listOf(navArgument("jobId") { type = NavType.StringType })) { entry ->
                val jobId = entry.arguments?.getString("jobId").orEmpty()
                CompletionScreen(
                    core,
                    jobId,
                    onDone = { nav.popBackStack(Routes.JOBS, inclusive = false) },
                    onBack = { nav.popBackStack() },
                )
            }
            composable(Routes.CONFLICTS) {
                ConflictsScreen(core, onBack = { nav.popBackStack() })
            }
        }
    }

    when (val state = logout) {
        is LogoutState.UnsyncedWork -> AlertDialog(
            onDismissRequest = app::dismissLogoutMessage,
            title = { Text("Actions not synced yet") },
            text = { Text(state.message) },
            confirmButton = {
                TextButton(onClick = { app.logout(discardUnsynced = true) }) { Text("Log out and discard them") }
            },
            dismissButton = { TextButton(onClick = app::dismissLogoutMessage) { Text("Stay logged in") } },
        )
        is LogoutState.Failed -> AlertDialog(
            onDismissRequest = app::dismissLogoutMessage,
            text = { Text(state.message) },
            confirmButton = { TextButton(onClick = app::dismissLogoutMessage) { Text("OK") } },
        )
        LogoutState.Idle -> Unit
    }
}

private fun NavHostController.goToLogin() = navigate(Routes.LOGIN) {
    popUpTo(graph.id) { inclusive = true }
    launchSingleTop = true
}
