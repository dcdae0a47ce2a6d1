import Foundation
import HSNNDaemon
import HSNNModel
import HSNNOps
import Testing
import HSNNTestSupport

/// The package root, found from this file's path (Tests/HSNNDaemonTests/<file>).

/// `hsnn run` and `hsnn config check` share one validation, run before anything starts.
@Suite struct StartupValidationTests {
    private func validate(_ overrides: [String]) throws -> ValidatedConfiguration {
        let config = try ConfigLoader(schema: ModelSettings.schema).load(
            file: packageRoot.appendingPathComponent("config/dev.toml").path, environment: [:], overrides: overrides)
        return try ValidatedConfiguration(config)
    }

    /// Each setting is rejected with a message that names the key it was given as.
    @Test(arguments: [
        ("model.hash_buckets=1000000000000", "model.hash_buckets"),
        ("model.embedding_dim=0", "model.embedding_dim"),
        ("model.embedding_dim=-4", "model.embedding_dim"),
        ("model.max_user_fields=-1", "model.max_user_fields"),
        ("model.max_item_fields=0", "model.max_item_fields"),
        ("model.dim=0", "model.dim"),
        ("index.dim=0", "index.dim"),
        ("index.nodes=abc", "index.nodes"),
        ("index.nodes=[0,16]", "index.nodes"),
        ("index.levels=5", "index.levels"),
        ("index.beam=[0,64]", "index.beam"),
        ("index.warmup_fraction=2", "index.warmup_fraction"),
        ("model.item_tower_hidden=[0]", "model.item_tower_hidden"),
        ("model.cross_half_life_ms=-1", "model.cross_half_life_ms"),
        ("training.learning_rate=-1", "training.learning_rate"),
        ("training.embedding_learning_rate=0", "training.embedding_learning_rate"),
        ("training.retrieval_negatives=-3", "training.retrieval_negatives"),
        ("kafka.properties.no.such.prop=1", "kafka.properties.no.such.prop"),
        ("kafka.properties.session.timeout.ms=abc", "kafka.properties.session.timeout.ms"),
    ])
    func rejectsWithTheRightKey(setting: String, key: String) throws {
        do {
            _ = try validate([setting])
            Issue.record("\(setting) was accepted")
        } catch let error as ConfigurationRejected {
            let text = error.description
            #expect(text.hasPrefix(key + " ") || text.hasPrefix(key + ":"), "\(setting): \(text)")
            #expect(text.contains("--set \(setting)"), "the message names where the key was set: \(text)")
        }
    }

    @Test func theDevelopmentAndProductionFilesPass() throws {
        let dev = try validate([])
        #expect(dev.model.hashBuckets == ModelConfig().hashBuckets)
        let production = try ConfigLoader(schema: ModelSettings.schema).load(
            file: packageRoot.appendingPathComponent("config/production.toml").path, environment: [:])
        _ = try ValidatedConfiguration(production)
    }

    /// The memory estimate is checked before any allocation: a model that fits on a large
    /// machine is refused on a small one, naming the key that dominates.
    @Test func memoryEstimateIsCheckedAgainstPhysicalMemory() throws {
        var config = ModelConfig()
        config.hashBuckets = 50_000_000
        config.embeddingDim = 64
        try config.validate(physicalMemory: 1 << 40)
        #expect(throws: ModelConfigError.self) { try config.validate(physicalMemory: 8 << 30) }
        do { try config.validate(physicalMemory: 8 << 30) } catch {
            #expect(error.key == "model.hash_buckets")
            #expect(error.message.contains("physical memory"), "\(error.message)")
        }
        let defaults = ModelConfig().memoryEstimate()
        #expect(defaults.total > 50e6 && defaults.total < 1e9, "the defaults need about 100 MB: \(defaults.total)")
    }

    /// Every problem is reported at once.
    @Test func listsEveryProblem() throws {
        do {
            _ = try validate(["training.learning_rate=-1", "kafka.properties.no.such.prop=1"])
            Issue.record("accepted")
        } catch let error as ConfigurationRejected {
            #expect(error.problems.count == 2, "\(error.problems)")
        }
    }

    /// `hsnn config check` exits 64 (invalid configuration) on what `hsnn run` refuses.
    @Test(.enabled(if: HSNNExecutable.url != nil, Comment(rawValue: HSNNExecutable.missingMessage)),
          arguments: ["model.hash_buckets=1000000000000", "model.embedding_dim=0", "index.nodes=[0,16]", "index.levels=5",
                      "training.learning_rate=-1", "kafka.properties.no.such.prop=1"])
    func configCheckRejectsWhatRunRejects(setting: String) throws {
        let dev = packageRoot.appendingPathComponent("config/dev.toml").path
        let check = try runHSNNStatus(["config", "check", dev, "--set", setting])
        #expect(check.status == 64, "config check accepted \(setting): \(check.output)")
        let key = String(setting.prefix { $0 != "=" })
        #expect(check.output.contains(key), "\(check.output)")
        #expect(try runHSNNStatus(["config", "check", dev]).status == 0)
    }

    /// A rejected start leaves nothing behind: no checkpoint directory is created.
    @Test(.enabled(if: HSNNExecutable.url != nil, Comment(rawValue: HSNNExecutable.missingMessage)),
          arguments: [("model.hash_buckets=1000000000000", 64), ("kafka.properties.no.such.prop=1", 64), ("http.host=garbage.invalid", 1)])
    func aRejectedStartTouchesNothing(setting: String, status: Int32) async throws {
        let folder = try makeScratchFolder("hsnn-reject")
        defer { try? FileManager.default.removeItem(at: folder) }
        let dir = folder.appendingPathComponent("checkpoints")
        let run = try DaemonProcess("run", arguments: [
            "--config", packageRoot.appendingPathComponent("config/dev.toml").path,
            "--set", "checkpoint.dir=\(dir.path)", "--set", "http.port=0", "--set", setting,
        ], log: folder.appendingPathComponent("run.log"))
        defer { run.child.killIfRunning() }
        let exit = try await run.child.waitForExit(seconds: 60)
        #expect(exit.reason == .exit && exit.status == status, "\(setting): \(exit) \(run.child.tail())")
        #expect(!FileManager.default.fileExists(atPath: dir.path), "\(setting) created the checkpoint directory:\n\(run.child.tail())")
        #expect(!run.child.log().contains("partitions assigned"), "\(setting) joined the group:\n\(run.child.tail())")
    }
}
