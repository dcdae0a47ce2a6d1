import Foundation
import HSNNEvents
import HSNNMath
import HSNNTestSupport
import Testing
@testable import HSNNModel

@Test(arguments: [ModelKind.hsnn, ModelKind.twoTower])
func sameSeedSameEventsGiveTheSameModelBitForBit(kind: ModelKind) throws {
    let events = try smallStream()
    var snapshots: [ModelSnapshot] = []
    for _ in 0..<2 {
        let model = try RetrievalModel(config: smallConfig(kind: kind))
        var batch: [LabeledExample] = []
        feed(model, events[...], batch: &batch)
        model.train(batch)
        snapshots.append(model.makeSnapshot())
        #expect(model.counters.examplesTrained > 4_000)
    }
    #expect(differences(snapshots[0], snapshots[1]) == [])
    // A different seed gives a different model (the comparison can fail).
    var other = smallConfig(kind: kind)
    other.seed = 99
    let model = try RetrievalModel(config: other)
    var batch: [LabeledExample] = []
    feed(model, events[...], batch: &batch)
    #expect(!differences(snapshots[0], model.makeSnapshot()).isEmpty)
}

@Test(arguments: [(ModelKind.hsnn, 2), (ModelKind.hsnn, 3), (ModelKind.twoTower, 2)])
func continuedTrainingAfterLoadIsBitIdentical(kind: ModelKind, levels: Int) throws {
    let events = try smallStream()
    let half = events.count / 2
    let uninterrupted = try RetrievalModel(config: smallConfig(kind: kind, levels: levels))
    var batchA: [LabeledExample] = []
    feed(uninterrupted, events[...], batch: &batchA)

    let first = try RetrievalModel(config: smallConfig(kind: kind, levels: levels))
    var batchB: [LabeledExample] = []
    feed(first, events[..<half], batch: &batchB)
    let folder = try TemporaryDirectory(prefix: "hsnn-model")
    try first.write(to: folder.url)
    for name in ModelSnapshot.fileNames { #expect(FileManager.default.fileExists(atPath: folder.url.appendingPathComponent(name).path)) }
    let resumed = try RetrievalModel.load(from: folder.url)
    // The pending partial batch belongs to the stream position, not the model: carry it over.
    feed(resumed, events[half...], batch: &batchB)
    #expect(batchA.count == batchB.count)
    #expect(differences(uninterrupted.makeSnapshot(), resumed.makeSnapshot()) == [])
    #expect(resumed.counters.examplesTrained == uninterrupted.counters.examplesTrained)
}

@Test func loadingAFolderThatIsNotAModelFailsWithAClearError() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hsnn-empty-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect(throws: ModelStateError.self) { _ = try RetrievalModel.load(from: folder) }
    do { _ = try RetrievalModel.load(from: folder) } catch let error as ModelStateError {
        #expect(error.message.contains("model.json"))
    }
}

@Test func aSnapshotDoesNotChangeWhileTrainingContinues() throws {
    let events = try smallStream()
    let model = try RetrievalModel(config: smallConfig())
    var batch: [LabeledExample] = []
    let half = events.count / 2
    feed(model, events[..<half], batch: &batch)
    let snapshot = model.makeSnapshot()
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("hsnn-snap-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: base) }
    let before = base.appendingPathComponent("before"), after = base.appendingPathComponent("after")
    for f in [before, after] { try FileManager.default.createDirectory(at: f, withIntermediateDirectories: true) }
    try snapshot.write(to: before)
    feed(model, events[half...], batch: &batch)
    try snapshot.write(to: after)
    for name in ModelSnapshot.fileNames {
        let a = try Data(contentsOf: before.appendingPathComponent(name)), b = try Data(contentsOf: after.appendingPathComponent(name))
        #expect(a == b, "\(name) changed after training continued")
    }
    #expect(!differences(snapshot, model.makeSnapshot()).isEmpty)
}

@Test func aModelFolderWithoutANewerConfigurationKeyLoadsWithItsDefault() throws {
    var config = smallConfig()
    config.beamHeadShare = 0.25
    let (model, _) = try modelTrainedOnSmallStream(config, impressions: 1_000)
    let folder = try TemporaryDirectory(prefix: "hsnn-model")
    try model.write(to: folder.url)
    // A folder.url written before `index.beam_head_share` existed has no such key.
    try rewriteModelConfiguration(in: folder.url) { #expect($0.removeValue(forKey: "beamHeadShare") != nil) }
    let loaded = try RetrievalModel.load(from: folder.url)
    #expect(loaded.config.beamHeadShare == ModelConfig().beamHeadShare)
    var expected = config
    expected.beamHeadShare = ModelConfig().beamHeadShare
    #expect(loaded.config == expected)
    #expect(differences(model.makeSnapshot(), loaded.makeSnapshot()).allSatisfy { $0.contains("config") || $0.contains("model.json") })
}
