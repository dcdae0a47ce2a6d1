#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One state change of the systemd notification protocol (`sd_notify(3)`).
public enum SystemdNotifyState: Sendable, Hashable {
    /// `READY=1`: start-up finished (for `Type=notify` units, systemd waits for this).
    case ready
    /// `RELOADING=1`: configuration is being reloaded.
    case reloading
    /// `STOPPING=1`: shutdown has begun.
    case stopping
    /// `STATUS=...`: one line shown by `systemctl status` (newlines become spaces).
    case status(String)
    /// `WATCHDOG=1`: the service is alive (see ``SystemdWatchdog``).
    case watchdog
    /// `WATCHDOG=trigger`: ask systemd to act as if the watchdog timed out.
    case watchdogTrigger
    /// `EXTEND_TIMEOUT_USEC=...`: ask for more time for the current start or stop phase.
    case extendTimeout(Duration)
    /// `ERRNO=...`: the errno-style failure of the service.
    case errno(Int32)

    /// The `NAME=value` line of this state.
    public var line: String {
        switch self {
        case .ready: "READY=1"
        case .reloading: "RELOADING=1"
        case .stopping: "STOPPING=1"
        case .status(let text):
            "STATUS=" + String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
        case .watchdog: "WATCHDOG=1"
        case .watchdogTrigger: "WATCHDOG=trigger"
        case .extendTimeout(let duration):
            "EXTEND_TIMEOUT_USEC=\(max(0, durationMilliseconds(duration)) * 1000)"
        case .errno(let code): "ERRNO=\(code)"
        }
    }
}

/// Sending a notification to systemd failed.
public struct SystemdNotifyError: Error, Sendable, CustomStringConvertible {
    /// The `NOTIFY_SOCKET` address that was used.
    public let socketPath: String
    public let message: String

    public var description: String { "systemd notification to \(socketPath) failed: \(message)" }
}

/// Sends state changes to systemd over the `NOTIFY_SOCKET` datagram socket, without libsystemd.
///
/// `NOTIFY_SOCKET` is a filesystem path or, when it starts with `@`, a name in Linux's abstract
/// socket namespace. When it is unset (not started by systemd, or a unit type other than
/// `notify`), every call does nothing.
public struct SystemdNotifier: Sendable {
    /// The socket address, or `nil` when notifications are off.
    public let socketPath: String?

    /// A notifier for an explicit address (`nil` turns it off).
    public init(socketPath: String?) {
        self.socketPath = socketPath.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A notifier for the address in `NOTIFY_SOCKET`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(socketPath: environment["NOTIFY_SOCKET"])
    }

    /// Whether notifications are sent at all.
    public var isEnabled: Bool { socketPath != nil }

    /// Sends `states` as one datagram (`NAME=value` lines); does nothing when disabled.
    /// - Throws: ``SystemdNotifyError`` when the address is unusable or sending fails; the daemon
    ///   should log it and carry on (systemd will notice missing readiness or watchdog pings).
    public func notify(_ states: [SystemdNotifyState]) throws(SystemdNotifyError) {
        guard let socketPath, !states.isEmpty else { return }
        let message = states.map(\.line).joined(separator: "\n") + "\n"
        try send(message, to: socketPath)
    }

    /// Sends one state; does nothing when disabled.
    /// - Throws: ``SystemdNotifyError`` as ``notify(_:)``.
    public func notify(_ state: SystemdNotifyState) throws(SystemdNotifyError) {
        try notify([state])
    }

    private func send(_ message: String, to path: String) throws(SystemdNotifyError) {
        func failure(_ text: String) -> SystemdNotifyError { SystemdNotifyError(socketPath: path, message: text) }
        let isAbstract = path.hasPrefix("@")
        guard isAbstract || path.hasPrefix("/") else {
            throw failure("NOTIFY_SOCKET must be an absolute path or start with @")
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        if isAbstract { pathBytes[0] = 0 }  // abstract namespace: leading NUL, no terminator
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else {
            throw failure("address longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        let length = socklen_t(pathOffset + pathBytes.count + (isAbstract ? 0 : 1))

        #if os(Linux)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { throw failure("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let sent = message.utf8CString.withUnsafeBufferPointer { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    sendto(fd, text.baseAddress, text.count - 1, 0, socketAddress, length)
                }
            }
        }
        guard sent >= 0 else { throw failure("sendto: \(String(cString: strerror(errno)))") }
    }
}
