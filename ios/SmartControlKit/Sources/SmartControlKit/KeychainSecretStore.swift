// KeychainSecretStore.swift: the core's SecretStore hook on the iOS Keychain (the phone's signing key lives here).
import Foundation
import Security

/// Generic-password items under one service, readable after the first unlock, never synced to other devices
/// or restored from backups (`ThisDeviceOnly`). Called on core threads. Failures go back to the core as
/// `PlatformError.Failed` with the Keychain's reason.
public final class KeychainSecretStore: SecretStore, @unchecked Sendable {
    private let service: String

    public init(service: String = "com.invers.smartcontrol.secrets") {
        self.service = service
    }

    public func get(name: String) throws -> Data? {
        var query = item(name)
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &result)
        switch status {
        case errSecSuccess: return result as? Data
        case errSecItemNotFound: return nil
        default: throw failure("read \(name)", status)
        }
    }

    public func put(name: String, value: Data) throws {
        let update: [String: Any] = [kSecValueData as String: value]
        var status = SecItemUpdate(item(name) as CFDictionary, update as CFDictionary)
        if status == errSecItemNotFound {
            var add = item(name)
            add[kSecValueData as String] = value
            add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
            status = SecItemAdd(add as CFDictionary, nil)
        }
        guard status == errSecSuccess else { throw failure("store \(name)", status) }
    }

    public func delete(name: String) throws {
        let status = SecItemDelete(item(name) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else { throw failure("delete \(name)", status) }
    }

    private func item(_ name: String) -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: name,
        ]
    }

    private func failure(_ what: String, _ status: OSStatus) -> PlatformError {
        let reason = (SecCopyErrorMessageString(status, nil) as String?) ?? "OSStatus \(status)"
        return .Failed(reason: "the Keychain could not \(what): \(reason)")
    }
}
