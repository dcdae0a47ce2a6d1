import Foundation
import InMemoryLogging
import Logging

/// A logger for tests: warnings and worse to stderr, visible when a test fails.
/// `HSNN_TEST_LOG=debug` (any swift-log level) shows more.
package func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = ProcessInfo.processInfo.environment["HSNN_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    return logger
}

/// A logger whose entries a test can inspect, at debug level.
package func makeLogger() -> (Logger, InMemoryLogHandler) {
    let handler = InMemoryLogHandler()
    var logger = Logger(label: "test", factory: { _ in handler })
    logger.logLevel = .debug
    return (logger, handler)
}
