#if canImport(Glibc)
import Glibc
import CDispatch  // release (whole-module) builds attribute Glibc's timespec and stat to CDispatch (MemberImportVisibility)
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif

/// Where log lines go. Lines are written whole, one `write` per line, under a lock shared by
/// every handler using the same output, so lines from different threads never interleave.
public final class LogOutput: Sendable {
    private enum Target {
        case fileDescriptor(Int32)
        case capture(@Sendable (String) -> Void)
    }

    private let target: Target
    private let lock = Mutex(())

    /// Writes to the process's standard output.
    public static let standardOutput = LogOutput(target: .fileDescriptor(STDOUT_FILENO))

    /// Writes to an open file descriptor (not closed by this object).
    public convenience init(fileDescriptor: Int32) {
        self.init(target: .fileDescriptor(fileDescriptor))
    }

    /// Hands each finished line (ending in `\n`) to `receive`; used to capture logs in tests.
    public convenience init(capture receive: @escaping @Sendable (String) -> Void) {
        self.init(target: .capture(receive))
    }

    private init(target: Target) { self.target = target }

    func write(_ line: String) {
        lock.withLock { _ in
            switch target {
            case .capture(let receive):
                receive(line)
            case .fileDescriptor(let fd):
                var line = line
                line.withUTF8 { bytes in
                    var offset = 0
                    while offset < bytes.count {
                        let written = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                        if written > 0 {
                            offset += written
                        } else if written < 0 && errno == EINTR {
                            continue
                        } else {
                            return  // nowhere left to report a failing log stream; drop the line
                        }
                    }
                }
            }
        }
    }
}

/// A `LogHandler` writing one line per event in logfmt or JSON, without colour, suited to
/// journald and log shippers.
///
/// When standard output is connected to journald (``LineLogHandler/standardOutputIsJournal(environment:)``),
/// each line can start with the syslog priority `<N>`, which journald turns into the entry's priority.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    private let output: LogOutput
    private let formatter: LogLineFormatter

    /// Creates a handler.
    /// - Parameters:
    ///   - label: The logger's label, written as `logger=`.
    ///   - format: logfmt or JSON lines.
    ///   - level: Lowest level written.
    ///   - output: Destination, standard output by default.
    ///   - syslogPriorityPrefix: Prefix lines with `<N>`; by default only when standard output is journald.
    ///   - metadataProvider: Adds context metadata (e.g. task-local values) to every line.
    public init(
        label: String, format: LogFormat = .logfmt, level: Logger.Level = .info, output: LogOutput = .standardOutput,
        syslogPriorityPrefix: Bool? = nil, metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.label = label
        self.logLevel = level
        self.output = output
        self.metadataProvider = metadataProvider
        let prefix = syslogPriorityPrefix ?? (output === LogOutput.standardOutput && Self.standardOutputIsJournal())
        self.formatter = LogLineFormatter(format: format, syslogPriorityPrefix: prefix)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        let line = formatter.line(
            time: .now(), level: event.level, label: label, message: event.message.description, metadata: merged)
        output.write(line)
    }

    /// Installs this handler for every `Logger` in the process. Call once, first thing in `main`.
    public static func bootstrap(
        format: LogFormat, level: Logger.Level, output: LogOutput = .standardOutput,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        LoggingSystem.bootstrap({ label, provider in
            LineLogHandler(label: label, format: format, level: level, output: output,
                           metadataProvider: provider ?? metadataProvider)
        }, metadataProvider: metadataProvider)
    }

    /// Whether standard output is a journald stream: `JOURNAL_STREAM` (`device:inode`, set by
    /// systemd) names the same file as descriptor 1.
    public static func standardOutputIsJournal(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        guard let identity = standardOutputIdentity() else { return false }
        return identity.device == device && identity.inode == inode
    }

    /// Device and inode of descriptor 1, as `JOURNAL_STREAM` writes them.
    static func standardOutputIdentity() -> (device: UInt64, inode: UInt64)? {
        // fstat(1) through the /proc link, which FileManager follows.
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: "/proc/self/fd/1"),
              let device = (attributes[.systemNumber] as? NSNumber)?.uint64Value,
              let inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value else { return nil }
        return (device, inode)
    }
}

extension Logger.Level {
    /// Parses a level name as used in `log.level` (`trace` ... `critical`).
    public init?(configName: String) { self.init(rawValue: configName) }
}

extension LineLogHandler {
    /// ``bootstrap(format:level:output:metadataProvider:)`` with `log.format` and `log.level` from a
    /// configuration whose schema has the ``ConfigSection/log`` section (both are validated at load).
    public static func bootstrap(
        _ configuration: Configuration, output: LogOutput = .standardOutput,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        bootstrap(
            format: LogFormat(rawValue: configuration.string("log.format")) ?? .logfmt,
            level: Logger.Level(rawValue: configuration.string("log.level")) ?? .info,
            output: output, metadataProvider: metadataProvider)
    }
}
