#if canImport(Glibc)
import Glibc
import CDispatch  // release (whole-module) builds attribute Glibc's timespec and stat to CDispatch (MemberImportVisibility)
import HSNNSupport
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging

/// How log lines are written.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `ts=2025-01-02T03:04:05.678Z level=info msg="consumer started" logger=hsnn kafka.topic=hsnn.events`
    case logfmt
    /// One JSON object per line: `{"ts":"...","level":"info","msg":"...","logger":"hsnn","kafka.topic":"hsnn.events"}`
    case json
}

/// A wall-clock instant as seconds and nanoseconds since the Unix epoch.
struct WallClockTime: Sendable, Hashable {
    var seconds: Int
    var nanoseconds: Int

    static func now() -> WallClockTime {
        let t = Date().timeIntervalSince1970
        let seconds = t.rounded(.down)
        return WallClockTime(seconds: Int(seconds), nanoseconds: Int((t - seconds) * 1e9))
    }
}

/// Renders one log event as one line (ending in `\n`); never contains another newline.
struct LogLineFormatter: Sendable {
    var format: LogFormat
    /// Prefix each line with the syslog priority `<N>` that journald reads from a stream.
    var syslogPriorityPrefix: Bool

    func line(
        time: WallClockTime, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata
    ) -> String {
        var out = ""
        out.reserveCapacity(128 + message.utf8.count)
        if syslogPriorityPrefix { out += "<\(Self.syslogPriority(level))>" }
        let timestamp = Self.iso8601(time)
        let keys = metadata.keys.sorted()
        switch format {
        case .logfmt:
            out += "ts=\(timestamp) level=\(level.rawValue) msg="
            appendLogfmtValue(message, to: &out)
            out += " logger="
            appendLogfmtValue(label, to: &out)
            for key in keys {
                out += " "
                appendLogfmtKey(Self.reservedKeys.contains(key) ? "_" + key : key, to: &out)
                out += "="
                appendLogfmtValue(Self.flatten(metadata[key]!), to: &out)
            }
        case .json:
            out += "{\"ts\":\"\(timestamp)\",\"level\":\"\(level.rawValue)\",\"msg\":"
            appendJSONString(message, to: &out)
            out += ",\"logger\":"
            appendJSONString(label, to: &out)
            for key in keys {
                out += ","
                appendJSONString(Self.reservedKeys.contains(key) ? "_" + key : key, to: &out)
                out += ":"
                appendJSONValue(metadata[key]!, to: &out)
            }
            out += "}"
        }
        out += "\n"
        return out
    }

    static let reservedKeys: Set<String> = ["ts", "level", "msg", "logger"]

    /// RFC 5424 severity journald understands: debug 7, info 6, notice 5, warning 4, error 3, critical 2.
    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// `2025-01-02T03:04:05.678Z` (UTC, milliseconds).
    static func iso8601(_ time: WallClockTime) -> String {
        var seconds = time_t(time.seconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var out = ""
        out.reserveCapacity(24)
        func pad(_ value: Int32, _ width: Int) {
            let digits = String(value)
            if digits.count < width { out += String(repeating: "0", count: width - digits.count) }
            out += digits
        }
        pad(parts.tm_year + 1900, 4); out += "-"
        pad(parts.tm_mon + 1, 2); out += "-"
        pad(parts.tm_mday, 2); out += "T"
        pad(parts.tm_hour, 2); out += ":"
        pad(parts.tm_min, 2); out += ":"
        pad(parts.tm_sec, 2); out += "."
        pad(Int32(time.nanoseconds / 1_000_000), 3); out += "Z"
        return out
    }

    static func flatten(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let items): "[" + items.map(flatten).joined(separator: ",") + "]"
        case .dictionary(let entries):
            "{" + entries.keys.sorted().map { "\($0):\(flatten(entries[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    private func appendLogfmtKey(_ key: String, to out: inout String) {
        if key.isEmpty { out += "_"; return }
        for scalar in key.unicodeScalars {
            if scalar.value <= 0x20 || scalar == "=" || scalar == "\"" || scalar.value == 0x7F {
                out += "_"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }

    private func appendLogfmtValue(_ value: String, to out: inout String) {
        let needsQuotes = value.isEmpty || value.unicodeScalars.contains {
            $0.value <= 0x20 || $0 == "=" || $0 == "\"" || $0 == "\\" || $0.value == 0x7F
        }
        guard needsQuotes else { out += value; return }
        out += "\""
        StringEscaping.appendEscaped(value, to: &out)
        out += "\""
    }

    private func appendJSONString(_ value: String, to out: inout String) {
        out += "\""
        StringEscaping.appendEscaped(value, to: &out)
        out += "\""
    }

    private func appendJSONValue(_ value: Logger.MetadataValue, to out: inout String) {
        switch value {
        case .string(let s): appendJSONString(s, to: &out)
        case .stringConvertible(let c): appendJSONString(c.description, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                appendJSONValue(item, to: &out)
            }
            out += "]"
        case .dictionary(let entries):
            out += "{"
            for (i, key) in entries.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                appendJSONString(key, to: &out)
                out += ":"
                appendJSONValue(entries[key]!, to: &out)
            }
            out += "}"
        }
    }
}
