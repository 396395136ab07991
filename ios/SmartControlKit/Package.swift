// swift-tools-version:5.9
// Package.swift: SmartControlKit, the Swift face of the SmartControl core: the Rust library as an XCFramework
// (scripts/build-xcframework), the UniFFI-generated Swift (Sources/SmartControlKit/Generated, same script) and a
// small hand-written facade (async/await, AsyncStream, Keychain SecretStore, OSLog LogSink).
import PackageDescription

let package = Package(
    name: "SmartControlKit",
    platforms: [.iOS(.v16)],
    products: [
        .library(name: "SmartControlKit", targets: ["SmartControlKit"]),
    ],
    targets: [
        // Static libsmartcontrol_ffi.a for device and simulator, with the C header and the module map of the
        // `SmartControlFFIFFI` module the generated Swift imports.
        .binaryTarget(name: "SmartControlFFI", path: "SmartControlFFI.xcframework"),
        .target(
            name: "SmartControlKit",
            dependencies: ["SmartControlFFI"],
            path: "Sources/SmartControlKit",
            linkerSettings: [
                // The Rust standard library and btleplug's CoreBluetooth backend.
                .linkedFramework("CoreBluetooth"),
                .linkedFramework("Security"),
                .linkedFramework("SystemConfiguration"),
            ]
        ),
    ]
)
