import ArgumentParser
import Logging
import HSNNCheckpoint
import HSNNDaemon
import Foundation
import HSNNEvents
import HSNNModel
import HSNNSupport

/// Helpers shared by the model commands (train, retrieve, score, eval).
enum ModelCLI {
    /// The model configuration, loaded like `hsnn run`'s: an optional TOML file (a daemon
    /// configuration works; its operational sections are checked and ignored), `HSNN_*`
    /// environment variables, then `--set section.key=value` overrides. Unknown keys and bad
    /// values fail with the key named.
    static func loadConfig(file: String?, overrides: [String]) throws -> ModelConfig {
        let configuration = try ConfigOptions.load(file: file, overrides: overrides)
        do { return try ModelSettings.modelConfig(from: configuration) } catch {
            throw ValidationError("invalid model configuration: \(error)")
        }
    }

    /// Loads a model with an operator-facing error. `path` is a model folder written by
    /// `hsnn train`, a checkpoint directory (the version `LATEST` names, after verifying its
    /// files; older ones if it is corrupt) or one checkpoint version folder (verified).
    static func loadModel(_ path: String) throws -> RetrievalModel {
        do {
            if FileManager.default.fileExists(atPath: path + "/" + ModelSnapshot.fileNames[0]),
               !FileManager.default.fileExists(atPath: path + "/" + CheckpointManifest.fileName) {
                return try RetrievalModel.load(from: URL(fileURLWithPath: path))
            }
            let location = try CheckpointLocation(resolving: path)
            var logger = Logger(label: "hsnn.model")
            logger.logLevel = .warning
            let store = try CheckpointStore(directory: location.directory, logger: logger, create: false)
            let loaded: LoadedCheckpoint
            if let version = location.version {
                loaded = try store.load(version)
            } else if let latest = try store.loadLatestVerified() {
                loaded = latest
            } else {
                throw ValidationError("\(path) holds no model: give a model folder from hsnn train, a checkpoint directory or a version folder")
            }
            defer { loaded.lease.release() }
            return try RetrievalModel.load(from: loaded.folder)
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// Prints one JSON object per line on standard output.
    static func emit(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]),
              let line = String(data: data, encoding: .utf8) else { return }
        print(line)
    }

    /// Prints a Codable value as one JSON line.
    static func emit(encodable value: some Encodable) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        if let data = try? encoder.encode(value), let line = String(data: data, encoding: .utf8) { print(line) }
    }

    /// Reads every event of a JSON-lines file; malformed lines are counted by reason and reported
    /// on standard error (the first few in full), never fatal.
    static func forEachEvent(in path: String, malformed: inout [String: Int], _ body: (Event) throws -> Void) throws {
        let reader: EventLineReader
        do { reader = try EventLineReader(path: path) } catch { throw ValidationError("\(error)") }
        var reported = 0
        while let (line, result) = try reader.next() {
            switch result {
            case .success(let event): try body(event)
            case .failure(let failure):
                malformed[failure.reason.rawValue, default: 0] += 1
                if reported < 5 {
                    FileHandle.standardError.write(Data("\(path):\(line): skipped: \(failure)\n".utf8))
                    reported += 1
                }
            }
        }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        start.duration(to: .now).inSeconds
    }
}

/// `hsnn train`: one pass over event files in order, then the model state to a folder.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the model in one pass over JSON-lines event files and write its state to a folder.",
        discussion: """
            Item events update the catalog (and the index) at once; impressions must carry `clicked` \
            (unlabelled impressions and click events are counted and skipped: the daemon joins them). \
            Progress and a final summary are printed as JSON lines.
            """)

    @Option(name: .customLong("input"), help: "Event file (repeatable; read in order).") var inputs: [String]
    @Option(help: "Folder to write the model state into.") var out: String
    @Option(help: "Configuration file (TOML, the same format as `hsnn run --config`; see config/README.md).") var config: String?
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a configuration key.", valueName: "section.key=value"))
    var overrides: [String] = []
    @Option(help: "Print progress every this many examples.") var progressEvery = 100_000

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one --input FILE") }
    }

    func run() throws {
        let config = try ModelCLI.loadConfig(file: config, overrides: overrides)
        let model = try RetrievalModel(config: config)
        var batch: [LabeledExample] = []
        batch.reserveCapacity(config.batchSize)
        var malformed: [String: Int] = [:]
        var unlabelled = 0, clicks = 0, events = 0
        let start = ContinuousClock.now
        var nextProgress = progressEvery
        func flush() {
            model.trainBatch(batch)
            batch.removeAll(keepingCapacity: true)
            let c = model.counters
            if c.examplesTrained >= nextProgress {
                nextProgress += progressEvery
                let s = ModelCLI.seconds(since: start)
                ModelCLI.emit(["event": "progress", "examples": c.examplesTrained, "seconds": s,
                               "examples_per_s": Double(c.examplesTrained) / max(s, 1e-9), "loss": c.lastItemLoss,
                               "total_loss": c.lastTotalLoss, "alpha": c.lastAlpha, "live_items": model.liveItemCount])
            }
        }
        for path in inputs {
            try ModelCLI.forEachEvent(in: path, malformed: &malformed) { event in
                events += 1
                switch event {
                case .item(let item): model.apply(item)
                case .impression(let imp):
                    guard let clicked = imp.clicked else { unlabelled += 1; return }
                    batch.append(LabeledExample(impression: imp, clicked: clicked))
                    if batch.count == config.batchSize { flush() }
                case .click: clicks += 1
                }
            }
        }
        if !batch.isEmpty { flush() }
        let trainSeconds = ModelCLI.seconds(since: start)
        let writeStart = ContinuousClock.now
        do { try model.write(to: URL(fileURLWithPath: out)) } catch { throw ValidationError("\(error)") }
        let c = model.counters
        var summary: [String: Any] = [
            "event": "trained", "out": out, "kind": config.kind.rawValue, "events": events, "examples": c.examplesTrained,
            "positives": c.positivesTrained, "batches": c.batches, "item_upserts": c.itemUpserts, "item_deletes": c.itemDeletes,
            "unlabelled_impressions_skipped": unlabelled, "click_events_skipped": clicks, "malformed": malformed,
            "seconds": trainSeconds, "examples_per_s": Double(c.examplesTrained) / max(trainSeconds, 1e-9),
            "write_seconds": ModelCLI.seconds(since: writeStart), "live_items": model.liveItemCount, "last_loss": c.lastItemLoss,
        ]
        if let s = model.indexStatistics {
            summary["index"] = s.summary
        }
        ModelCLI.emit(summary)
    }
}
