import ArgumentParser
import Foundation
import HSNNCheckpoint
import Logging

/// `hsnn checkpoint ...`: inspect and maintain a checkpoint directory.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Inspect and maintain a checkpoint directory (DIR holds vNNNNNNNN/ folders and LATEST).",
        discussion: """
            VERSION may be written 42, v00000042 or as the path of a version folder; where it is optional \
            it defaults to the version LATEST names. Output is text; --json prints JSON for scripts.
            """,
        subcommands: [List.self, Show.self, Verify.self, Diff.self, Prune.self, Pin.self, Unpin.self]
    )
}

/// Options every checkpoint subcommand shares.
struct CheckpointCommonOptions: ParsableArguments {
    @Argument(help: "The checkpoint directory.")
    var directory: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    /// Opens the directory without creating it; diagnostics go to standard error.
    func openStore(keep: Int? = nil) throws -> CheckpointStore {
        var logger = Logger(label: "hsnn.checkpoint")
        logger.logLevel = .warning
        var options = CheckpointStoreOptions()
        if let keep { options.keepVersions = keep }
        return try CheckpointStore(directory: URL(fileURLWithPath: directory), options: options, logger: logger, create: false)
    }

    func emit(_ report: some CheckpointTextReport) throws {
        print(json ? try report.renderJSON() : report.renderText(), terminator: "")
    }
}

/// Parses a VERSION argument (`42`, `v00000042` or a version folder's path).
private func parseVersion(_ text: String) throws -> CheckpointVersion {
    do { return try CheckpointVersion(parsing: text) } catch let error as CheckpointError {
        throw ValidationError(error.description)
    }
}

extension CheckpointCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List versions, newest first: time, events trained, size, status (ok/corrupt, LATEST, pinned), offsets.")

        @OptionGroup var common: CheckpointCommonOptions

        @Flag(help: "Compare SHA-256s too (reads every file); by default statuses compare sizes.")
        var checksums = false

        func run() throws {
            try common.emit(common.openStore().list(verifyChecksums: checksums))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one version: configuration, counters, offsets, index health, metrics, files.")

        @OptionGroup var common: CheckpointCommonOptions

        @Argument(help: "The version (default: LATEST).", transform: parseVersion)
        var version: CheckpointVersion?

        func run() throws {
            try common.emit(common.openStore().show(version))
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every file of a version against its manifest (size and SHA-256). Exits 1 when corrupt.")

        @OptionGroup var common: CheckpointCommonOptions

        @Argument(help: "The version (default: LATEST).", transform: parseVersion)
        var version: CheckpointVersion?

        @Flag(help: "Verify every version instead of one.")
        var all = false

        func validate() throws {
            if all && version != nil { throw ValidationError("give a VERSION or --all, not both") }
        }

        func run() throws {
            let report = try common.openStore().verifyReport(version, all: all)
            try common.emit(report)
            if !report.ok { throw ExitCode(1) }
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two versions: configuration, counters, offsets, index statistics, files and per-tensor statistics.")

        @OptionGroup var common: CheckpointCommonOptions

        @Argument(help: "The first version.", transform: parseVersion)
        var a: CheckpointVersion

        @Argument(help: "The second version.", transform: parseVersion)
        var b: CheckpointVersion

        func run() throws {
            try common.emit(common.openStore().diff(a, b))
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply retention now: keep the newest N intact versions, LATEST, pinned ones and ones being read.")

        @OptionGroup var common: CheckpointCommonOptions

        @Option(help: "Versions to keep besides LATEST, pinned and leased ones (default 5).")
        var keep: Int?

        func validate() throws {
            if let keep, keep < 1 { throw ValidationError("--keep must be at least 1") }
        }

        func run() throws {
            try common.emit(common.openStore(keep: keep).prune())
        }
    }

    struct Pin: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pin a version: retention never deletes it (a PINNED file in its folder).")

        @OptionGroup var common: CheckpointCommonOptions

        @Argument(help: "The version to pin.", transform: parseVersion)
        var version: CheckpointVersion

        @Option(help: "Why it is pinned (stored in the PINNED file).")
        var reason: String?

        func run() throws {
            try common.emit(common.openStore().pinReport(version, reason: reason))
        }
    }

    struct Unpin: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unpin a version: retention may delete it again.")

        @OptionGroup var common: CheckpointCommonOptions

        @Argument(help: "The version to unpin.", transform: parseVersion)
        var version: CheckpointVersion

        func run() throws {
            try common.emit(common.openStore().unpinReport(version))
        }
    }
}
