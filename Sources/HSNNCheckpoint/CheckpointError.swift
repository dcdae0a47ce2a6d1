import Foundation
import Safetensors

/// What went wrong with a checkpoint operation, and what the operator should do about it.
///
/// ``description`` reads as one sentence of cause and one of remedy, e.g.
/// `publish of v00000042 failed: cannot write .../weights.safetensors: No space left on device.
/// The disk holding the checkpoint directory is full: free space or keep fewer versions ...`.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    /// The class of failure, stable for programs (metrics labels, retry decisions).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The file system ran out of space or quota (`ENOSPC`, `EDQUOT`).
        public static let diskFull = Code("disk_full")
        /// The process may not write or read a path (`EACCES`, `EPERM`, `EROFS`).
        public static let permissionDenied = Code("permission_denied")
        /// The device reported an I/O error (`EIO`).
        public static let ioError = Code("io_error")
        /// Another system call failed.
        public static let fileSystem = Code("file_system")
        /// The caller's state writer failed for a reason other than the ones above.
        public static let writerFailed = Code("writer_failed")
        /// Another process holds the checkpoint directory's publish lock.
        public static let busy = Code("busy")
        /// A manifest is unreadable, malformed or claims absurd values.
        public static let malformedManifest = Code("malformed_manifest")
        /// A version's files do not match its manifest.
        public static let corruptVersion = Code("corrupt_version")
        /// The requested version or directory does not exist.
        public static let notFound = Code("not_found")
        /// Versions exist but none of them verifies.
        public static let noLoadableVersion = Code("no_loadable_version")
        /// An argument or a value handed to the store is invalid.
        public static let invalidArgument = Code("invalid_argument")
    }

    /// The class of failure.
    public let code: Code
    /// What happened.
    public private(set) var message: String
    /// What to do about it.
    public private(set) var remedy: String
    /// The path involved, if any.
    public let path: String?
    /// The operating system's `errno`, when a system call failed.
    public let osErrorCode: Int32?
    /// Where the error was raised (`#fileID:#line`), for bug reports.
    public let source: String

    public var description: String { "\(message). \(remedy)" }

    init(_ code: Code, _ message: String, remedy: String, path: String? = nil, osErrorCode: Int32? = nil,
         fileID: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.remedy = remedy
        self.path = path
        self.osErrorCode = osErrorCode
        self.source = "\(fileID):\(line)"
    }

    /// A failed system call, classified by `errno`.
    static func os(_ errorCode: Int32, _ operation: String, path: String, fileID: String = #fileID, line: Int = #line) -> CheckpointError {
        let (code, remedy) = classify(errorCode)
        return CheckpointError(code, "cannot \(operation) \(path): \(String(cString: strerror(errorCode)))",
                               remedy: remedy, path: path, osErrorCode: errorCode, fileID: fileID, line: line)
    }

    /// The current `errno` of a failed system call.
    package static func lastOS(_ operation: String, path: String, fileID: String = #fileID, line: Int = #line) -> CheckpointError {
        os(errno, operation, path: path, fileID: fileID, line: line)
    }

    static func classify(_ errorCode: Int32) -> (Code, String) {
        switch errorCode {
        case ENOSPC, EDQUOT:
            (.diskFull, "The disk holding the checkpoint directory is full: free space, move checkpoint.dir to a larger disk or keep fewer versions (checkpoint.keep)")
        case EACCES, EPERM, EROFS:
            (.permissionDenied, "The process lacks permission: check the owner and mode of the checkpoint directory (and ReadWritePaths= when running under systemd)")
        case EIO:
            (.ioError, "The storage device reported an I/O error: check the device (dmesg, SMART) before trusting this disk again")
        default:
            (.fileSystem, "Check the checkpoint directory's file system and retry")
        }
    }

    /// Wraps an error thrown by a caller's state writer, classifying OS errors it carries.
    ///
    /// A writer may flatten an OS error into its own message (the model's writer reports
    /// "cannot write PATH: No space left on device" without the `errno`): the error is then
    /// classified by the operating system's wording in its text, or, failing that, by the file
    /// system having no space left under `folder`. The folder is named only when the writer's
    /// message names no path inside it.
    static func writerFailed(_ error: any Error, folder: String, fileID: String = #fileID, line: Int = #line) -> CheckpointError {
        let text = String(describing: error)
        let context = text.contains(folder) ? "writing the checkpoint state failed" : "writing the checkpoint state into \(folder) failed"
        let errorCode = osErrorCode(of: error) ?? osErrorCode(describedIn: text) ?? (fileSystemIsFull(at: folder) ? ENOSPC : nil)
        return wrapping(error, context: context, path: folder, errorCode: errorCode,
                        otherwise: "The model's state writer failed for a reason other than the disk; the publish is retried, and the message above says what to fix",
                        fileID: fileID, line: line)
    }

    /// The `errno` an error carries (`POSIXError`, `SafetensorsError`, `CocoaError`), if any.
    static func osErrorCode(of error: any Error) -> Int32? {
        if let error = error as? SafetensorsError { return error.osErrorCode }
        if let error = error as? POSIXError { return error.code.rawValue }
        if let error = error as? CocoaError {
            if let underlying = error.underlying as? POSIXError { return underlying.code.rawValue }
            switch error.code {
            case .fileWriteOutOfSpace: return ENOSPC
            case .fileWriteNoPermission, .fileReadNoPermission: return EACCES
            case .fileWriteVolumeReadOnly: return EROFS
            default: return nil
            }
        }
        return nil
    }

    /// The `errno` whose `strerror` text ends a segment of `text`, among those ``classify(_:)``
    /// gives a specific remedy.
    static func osErrorCode(describedIn text: String) -> Int32? {
        for code in [ENOSPC, EDQUOT, EACCES, EPERM, EROFS, EIO] {
            let wording = String(cString: strerror(code))
            if text.hasSuffix(": " + wording) || text.contains(": " + wording + ":") || text.contains(": " + wording + ";")
                || text.contains(": " + wording + ".") {
                return code
            }
        }
        return nil
    }

    /// Whether the file system holding `path` (or its nearest existing parent) has no block
    /// left for this process.
    static func fileSystemIsFull(at path: String) -> Bool {
        var url = URL(fileURLWithPath: path)
        var info = statvfs()
        while statvfs(url.path, &info) != 0 {
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { return false }
            url = parent
        }
        return info.f_bavail == 0
    }

    /// Wraps any error: a ``CheckpointError`` passes through; errors carrying an `errno`
    /// (`POSIXError`, `SafetensorsError`, `CocoaError`) are classified by it.
    static func wrapping(_ error: any Error, context: String, path: String, errorCode: Int32? = nil, otherwise remedy: String,
                         fileID: String = #fileID, line: Int = #line) -> CheckpointError {
        if let error = error as? CheckpointError { return error }
        let errorCode = errorCode ?? osErrorCode(of: error)
        let text = withoutRepeats(String(describing: error))
        if let errorCode {
            let (code, classRemedy) = classify(errorCode)
            return CheckpointError(code, "\(context): \(text)", remedy: classRemedy, path: path, osErrorCode: errorCode, fileID: fileID, line: line)
        }
        return CheckpointError(.writerFailed, "\(context): \(text)", remedy: remedy, path: path, fileID: fileID, line: line)
    }

    /// `text` without a `: `-separated segment that repeats the one before it (a writer that
    /// prefixes "cannot write PATH" to an error that already says so).
    static func withoutRepeats(_ text: String) -> String {
        var segments: [Substring] = []
        for segment in text.split(separator: ": ", omittingEmptySubsequences: false) where segment != segments.last {
            segments.append(segment)
        }
        return segments.joined(separator: ": ")
    }

    /// The same error, reported as the cause of an abandoned publish.
    func abandoningPublish(of version: CheckpointVersion, latest: CheckpointVersion?) -> CheckpointError {
        let kept = latest.map { "LATEST still names \($0.folderName)" } ?? "no LATEST was written"
        var copy = self
        copy.message = "publish of \(version.folderName) failed: \(message)"
        copy.remedy = "\(remedy). The temporary folder was removed and \(kept); the publish can be retried"
        return copy
    }

    static func malformedManifest(_ path: String, _ reason: String, fileID: String = #fileID, line: Int = #line) -> CheckpointError {
        CheckpointError(.malformedManifest, "manifest \(path) is refused: \(reason)",
                        remedy: "This version cannot be used: the loader falls back to an older version; restore it from a backup or prune it",
                        path: path, fileID: fileID, line: line)
    }

    package static func invalid(_ message: String, remedy: String, fileID: String = #fileID, line: Int = #line) -> CheckpointError {
        CheckpointError(.invalidArgument, message, remedy: remedy, fileID: fileID, line: line)
    }
}
