// KeystoreSecretStore.kt: the core's SecretStore hook on the Android Keystore (the phone's signing key lives here).
package com.invers.smartcontrol.app

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import com.invers.smartcontrol.ffi.PlatformException
import com.invers.smartcontrol.ffi.SecretStore
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * Secrets wrapped with an AES-256/GCM key that never leaves the Android Keystore, stored as
 * Base64(iv || ciphertext) in private SharedPreferences. The secret's name is the GCM associated data, so a value
 * copied under another name does not decrypt. Called on core threads (never the UI thread); `commit()` makes a
 * `put` durable before it returns. Failures go back to the core as [PlatformException.Failed] with the reason.
 */
class KeystoreSecretStore(context: Context) : SecretStore {

    private val prefs = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)

    override fun get(name: String): ByteArray? = guarded("read $name") {
        val stored = prefs.getString(name, null) ?: return@guarded null
        val bytes = Base64.decode(stored, Base64.NO_WRAP)
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(TAG_BITS, bytes, 0, IV_BYTES))
        cipher.updateAAD(name.toByteArray())
        cipher.doFinal(bytes, IV_BYTES, bytes.size - IV_BYTES)
    }

    override fun put(name: String, value: ByteArray): Unit = guarded("store $name") {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, key())
        cipher.updateAAD(name.toByteArray())
        val sealed = cipher.iv + cipher.doFinal(value)
        val written = prefs.edit().putString(name, Base64.encodeToString(sealed, Base64.NO_WRAP)).commit()
        check(written) { "the app's preferences could not be written (storage full?)" }
    }

    override fun delete(name: String): Unit = guarded("delete $name") {
        check(prefs.edit().remove(name).commit()) { "the app's preferences could not be written" }
    }

    @Synchronized
    private fun key(): SecretKey {
        val keyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }
        (keyStore.getKey(KEY_ALIAS, null) as? SecretKey)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(KEY_ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private inline fun <T> guarded(what: String, block: () -> T): T =
        try {
            block()
        } catch (e: Exception) {
            throw PlatformException.Failed("Android Keystore could not $what: ${e.message ?: e.javaClass.simpleName}")
        }

    private companion object {
        const val ANDROID_KEYSTORE = "AndroidKeyStore"
        const val KEY_ALIAS = "smartcontrol.secret-store.v1"
        const val PREFS = "smartcontrol.secrets"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV_BYTES = 12
        const val TAG_BITS = 128
    }
}
