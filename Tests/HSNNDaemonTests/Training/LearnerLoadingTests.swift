import Foundation
import HSNNModel
import HSNNTestSupport
import Logging
import Synchronization
import Testing
@testable import HSNNDaemon
import HSNNOps

/// A checkpoint written before `model.click_prior` existed resumes as it was trained (prior off),
/// whatever the daemon's settings say, and the daemon reports that the two differ.
@Test func aCheckpointFromBeforeTheClickPriorResumesWithoutIt() throws {
    var trained = ModelConfig()
    trained.hashBuckets = 4_096
    trained.nodes = [16, 4]
    trained.clickPrior = false
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hsnn-learner-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    try RetrievalModel(config: trained).write(to: folder)
    // As the build before the key wrote it: no such key in model.json.
    try rewriteModelConfiguration(in: folder) { #expect($0.removeValue(forKey: "clickPrior") != nil) }

    let lines = Mutex<[String]>([])
    let logger = Logger(label: "hsnn.test") { label in
        LineLogHandler(label: label, output: LogOutput(capture: { line in lines.withLock { $0.append(line) } }), syslogPriorityPrefix: false)
    }
    var configured = trained
    configured.clickPrior = true
    let learner = try #require(try HSNNLearnerFactory(config: configured, logger: logger).load(from: folder) as? HSNNLearner)
    #expect(learner.model.config == trained)
    #expect(lines.withLock { $0 }.contains { $0.contains("the checkpoint's model configuration differs from the configured one") })
}
