import Foundation
import HSNNTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HSNNDaemon
import HSNNPipeline
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `hsnn` executable that `swift build --build-tests` puts beside the test bundle
/// (`HSNN_BINARY` overrides it).
enum HSNNExecutable {
    static let url: URL? = {
        let fm = FileManager.default
        if let path = ProcessInfo.processInfo.environment["HSNN_BINARY"], !path.isEmpty {
            return fm.isExecutableFile(atPath: path) ? URL(fileURLWithPath: path) : nil
        }
        var folders: [URL] = []
        if let executable = Bundle.main.executableURL { folders.append(executable.deletingLastPathComponent()) }
        folders.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for bundle in Bundle.allBundles { folders.append(bundle.bundleURL.deletingLastPathComponent()) }
        for folder in folders {
            // The test runner may live inside the bundle (`.xctest/Contents/MacOS`) or be the bundle.
            var candidate = folder
            for _ in 0..<4 {
                let binary = candidate.appendingPathComponent("hsnn")
                if fm.isExecutableFile(atPath: binary.path) { return binary }
                candidate = candidate.deletingLastPathComponent()
            }
        }
        return nil
    }()

    static var missingMessage: String {
        "the hsnn executable was not found beside the test bundle; build it first with `swift build --build-tests` "
            + "(or point HSNN_BINARY at it)"
    }
}

/// A child process whose standard output and error go to a log file.
final class ChildProcess: @unchecked Sendable {
    // @unchecked: `Process` is used from the test's task only; the log is a file.
    let process: Process
    let name: String
    let logURL: URL

    /// Starts `executable` with `arguments`.
    init(_ name: String, executable: URL, arguments: [String], log: URL, environment: [String: String] = [:]) throws {
        self.name = name
        logURL = log
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        // The test's own overrides must not leak into the child's configuration.
        for key in env.keys where key.hasPrefix("HSNN_") && environment[key] == nil && key != "HSNN_BINARY" {
            env.removeValue(forKey: key)
        }
        process.environment = env
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? handle.close()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Sends `signal` (SIGKILL, SIGTERM, ...) to the process.
    func send(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits until the process has exited; returns its exit status or terminating signal.
    @discardableResult
    func waitForExit(seconds: Double) async throws -> (reason: Process.TerminationReason, status: Int32) {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                throw ProcessTestError("\(name) (pid \(pid)) did not exit within \(seconds) s; log: \(logURL.path)\n\(tail())")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return (process.terminationReason, process.terminationStatus)
    }

    /// Kills the process if it still runs (used in cleanup).
    func killIfRunning() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// The whole log so far.
    func log() -> String {
        (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
    }

    /// The last `lines` lines of the log.
    func tail(_ lines: Int = 40) -> String {
        log().split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Waits until the log contains a line with `needle`, and returns that line.
    func waitForLogLine(containing needle: String, seconds: Double) async throws -> String {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while true {
            if let line = log().split(separator: "\n").first(where: { $0.contains(needle) }) { return String(line) }
            guard process.isRunning else {
                throw ProcessTestError("\(name) exited (\(process.terminationStatus)) before logging '\(needle)':\n\(tail())")
            }
            guard ContinuousClock.now < deadline else {
                throw ProcessTestError("\(name) did not log '\(needle)' within \(seconds) s:\n\(tail())")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

struct ProcessTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The value of `key=value` in one logfmt line (quoted values unquoted).
func logfmtValue(_ key: String, in line: some StringProtocol) -> String? {
    guard let range = line.range(of: " \(key)=") else { return nil }
    let rest = line[range.upperBound...]
    if rest.first == "\"" {
        let body = rest.dropFirst()
        return body.firstIndex(of: "\"").map { String(body[..<$0]) }
    }
    return String(rest.prefix { $0 != " " })
}

/// Runs an `hsnn` subcommand to completion and returns its standard output.
/// - Throws: when the executable is missing or the command fails (with its standard error).
func runHSNN(_ arguments: [String]) throws -> String {
    let result = try runHSNNStatus(arguments)
    guard result.status == 0 else {
        throw ProcessTestError("hsnn \(arguments.joined(separator: " ")) failed (\(result.status)):\n\(result.output)")
    }
    return result.standardOutput
}

/// Runs an `hsnn` subcommand to completion: its exit status (128 + N when killed by signal N),
/// its standard output, and both outputs together.
func runHSNNStatus(_ arguments: [String]) throws -> (status: Int32, standardOutput: String, output: String) {
    guard let binary = HSNNExecutable.url else { throw ProcessTestError(HSNNExecutable.missingMessage) }
    let folder = try makeScratchFolder("hsnn-cli")
    defer { try? FileManager.default.removeItem(at: folder) }
    let outURL = folder.appendingPathComponent("stdout"), errURL = folder.appendingPathComponent("stderr")
    FileManager.default.createFile(atPath: outURL.path, contents: nil)
    FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = try FileHandle(forWritingTo: errURL)
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
    let status = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    return (status, out, out + err)
}

/// `hsnn dev-broker` as a child process: librdkafka's mock cluster, alive until stopped.
final class DevBrokerProcess: Sendable {
    let child: ChildProcess
    let bootstrap: String

    init(partitions: Int, folder: URL) async throws {
        guard let binary = HSNNExecutable.url else { throw ProcessTestError(HSNNExecutable.missingMessage) }
        child = try ChildProcess("dev-broker", executable: binary, arguments: ["dev-broker", "--partitions", "\(partitions)"],
                                 log: folder.appendingPathComponent("dev-broker.log"))
        let line = try await child.waitForLogLine(containing: "127.0.0.1:", seconds: 30)
        bootstrap = line.trimmingCharacters(in: .whitespaces)
    }

    func stop() async {
        child.send(SIGTERM)
        if (try? await child.waitForExit(seconds: 10)) == nil { child.killIfRunning() }
    }
}

/// `hsnn run` as a child process, with its `/status` read over HTTP.
final class DaemonProcess: Sendable {
    let child: ChildProcess

    init(_ name: String, arguments: [String], log: URL) throws {
        guard let binary = HSNNExecutable.url else { throw ProcessTestError(HSNNExecutable.missingMessage) }
        child = try ChildProcess(name, executable: binary, arguments: ["run"] + arguments, log: log)
    }

    /// The port of the operations listener, from the daemon's log.
    func httpPort(seconds: Double = 60) async throws -> Int {
        let line = try await child.waitForLogLine(containing: "operations HTTP listening", seconds: seconds)
        guard let text = logfmtValue("http.port", in: line), let port = Int(text) else {
            throw ProcessTestError("no http.port in '\(line)'")
        }
        return port
    }

    /// The daemon's `/status`, or nil while it cannot be read.
    func status(port: Int) async -> DaemonStatusBoard.Status? {
        await httpGet(port: port, path: "/status").flatMap { data in
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try? decoder.decode(DaemonStatusBoard.Status.self, from: data)
        }
    }

    /// Waits until `/status` satisfies `condition`.
    @discardableResult
    func waitForStatus(port: Int, seconds: Double, _ what: String,
                       until condition: (DaemonStatusBoard.Status) -> Bool) async throws -> DaemonStatusBoard.Status {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        var last: DaemonStatusBoard.Status?
        while true {
            if let s = await status(port: port) {
                last = s
                if condition(s) { return s }
            }
            guard child.isRunning else { throw ProcessTestError("\(child.name) exited while waiting for \(what):\n\(child.tail())") }
            guard ContinuousClock.now < deadline else {
                throw ProcessTestError("timed out waiting for \(what); last status: offsets \(last?.offsets ?? [:]), "
                                       + "trained \(last?.pipeline.examplesTrained ?? -1)\n\(child.tail())")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// GET `http://127.0.0.1:port/path`; nil on any failure or non-200 answer.
func httpGet(port: Int, path: String) async -> Data? {
    guard let url = URL(string: "http://127.0.0.1:\(port)\(path)") else { return nil }
    var request = URLRequest(url: url)
    request.timeoutInterval = 5
    guard let (data, response) = try? await URLSession.shared.data(for: request),
          (response as? HTTPURLResponse)?.statusCode == 200 else { return nil }
    return data
}

