// OSLogSink.swift: the core's tracing output to the unified log (the Rust module as the category).
import Foundation
import os

/// Called on the thread that logged (often a core thread); `Logger` neither blocks nor calls back into the core.
/// Messages are marked public so field logs are readable in Console; switch to `.private` if the core ever logs
/// personal data.
public final class OSLogSink: LogSink, @unchecked Sendable {
    private let subsystem: String

    public init(subsystem: String = Bundle.main.bundleIdentifier ?? "com.invers.smartcontrol") {
        self.subsystem = subsystem
    }

    public func log(record: LogRecord) {
        let logger = Logger(subsystem: subsystem, category: record.target)
        let message = record.message
        switch record.level {
        case .error: logger.error("\(message, privacy: .public)")
        case .warn: logger.warning("\(message, privacy: .public)")
        case .info: logger.info("\(message, privacy: .public)")
        case .debug: logger.debug("\(message, privacy: .public)")
        case .trace: logger.trace("\(message, privacy: .public)")
        }
    }
}
