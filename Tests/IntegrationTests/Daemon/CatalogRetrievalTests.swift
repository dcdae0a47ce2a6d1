import Foundation
import HSNNCheckpoint
import HSNNDaemon
import HSNNEvents
import HSNNModel
import HSNNPipeline
import Testing
import HSNNTestSupport

/// Catalog changes from Kafka reach retrieval: the daemon trains the HSNN model on the mock
/// cluster, and the model loaded from its latest checkpoint retrieves what the catalog says.
@Suite(.serialized) struct CatalogRetrievalTests {
    static let baseMs: Int64 = 1_700_000_000_000
    static let genres = ["drama", "comedy", "action", "horror", "docs"]

    /// A small three-level HSNN (two index levels of 4 x 3 nodes).
    static var modelConfig: ModelConfig {
        var c = ModelConfig()
        c.embeddingDim = 8
        c.hashBuckets = 4096
        c.dim = 8
        c.itemLevel = MoNNSize(userRows: 2, itemRows: 2, towerHidden: [16], interactionHidden: [16], overHidden: [16])
        c.indexLevel = MoNNSize(userRows: 2, itemRows: 2, towerHidden: [16], interactionHidden: [16], overHidden: [16])
        c.levels = 3
        c.nodes = [4, 3]
        c.beam = [2, 2]
        c.indexDim = 8
        c.scheduleEvents = 2_000
        c.remapEveryBatches = 10
        c.batchSize = 8
        return c
    }

    /// Beam widths that keep every node, so beam search reaches every indexed item.
    static let fullBeam = RetrievalMode.beam(widths: [4, 12])

    static func upsert(_ id: String, genre: String, atMs ms: Int64) -> [UInt8] {
        Array(#"{"type":"item","op":"upsert","item_id":"\#(id)","ts_ms":\#(ms),"features":{"genre":["\#(genre)"],"creator":"c\#(id.count % 3)","price":\#(id.count)}}"#.utf8)
    }

    static func impression(_ n: Int, user: Int, item: String, clicked: Bool) -> [UInt8] {
        Array(#"{"type":"impression","event_id":"imp\#(n)","request_id":"r\#(n / 5)","ts_ms":\#(baseMs + 60_000 + Int64(n) * 1_000),"user_id":"u\#(user)","item_id":"\#(item)","user_features":{"country":"c\#(user % 4)"},"clicked":\#(clicked)}"#.utf8)
    }

    /// Produces `range` labelled impressions over `items` for users `u0...u19`.
    static func produceImpressions(_ range: Range<Int>, items: [String], on cluster: DaemonTestCluster) throws {
        for n in range {
            let user = n % 20
            let item = items[(n * 7 + user) % items.count]
            try cluster.produceRaw(impression(n, user: user, item: item, clicked: (n + user) % 5 == 0), key: Array("u\(user)".utf8))
        }
    }

    /// The model of the version `LATEST` names.
    static func latestModel(_ dir: String) throws -> RetrievalModel {
        let store = try CheckpointStore(directory: URL(fileURLWithPath: dir), logger: testLogger("store"), create: false)
        let loaded = try #require(try store.loadLatestVerified())
        defer { loaded.lease.release() }
        return try RetrievalModel.load(from: loaded.folder)
    }

    /// The ids every user retrieves, exhaustively and by a beam over the whole index, asking for
    /// more items than are live.
    static func retrievedIDs(_ model: RetrievalModel, mode: RetrievalMode) -> Set<String> {
        var ids = Set<String>()
        for user in 0..<20 {
            let result = model.retrieve(UserQuery(userID: "u\(user)"), k: model.liveItemCount + 10, mode: mode, excludeSeen: false)
            ids.formUnion(result.items.map(\.itemID))
        }
        return ids
    }

    @Test func upsertedItemsBecomeRetrievableAndDeletedOnesNeverAre() async throws {
        let cluster = try DaemonTestCluster(partitions: 1)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hsnn-catalog-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let settings = DaemonSettings(try cluster.configuration(checkpoints: dir))
        let factory = HSNNLearnerFactory(config: Self.modelConfig, logger: testLogger("learner"))

        // Phase 1: a catalog of 40 items, impressions on them, then three new items.
        let catalog = (0..<40).map { "item-\($0)" }
        for (i, id) in catalog.enumerated() {
            try cluster.produceRaw(Self.upsert(id, genre: Self.genres[i % Self.genres.count], atMs: Self.baseMs + Int64(i)),
                                   topic: "hsnn.items", key: Array(id.utf8))
        }
        try Self.produceImpressions(0..<400, items: catalog, on: cluster)
        let fresh = ["fresh-kept", "fresh-deleted-json", "fresh-deleted-tombstone"]
        for (i, id) in fresh.enumerated() {
            try cluster.produceRaw(Self.upsert(id, genre: Self.genres[i], atMs: Self.baseMs + 500_000 + Int64(i)),
                                   topic: "hsnn.items", key: Array(id.utf8))
        }
        try cluster.flush()

        let first = RunningDaemon(settings: settings, factory: factory)
        try await first.wait("43 upserts and 400 examples") { $0.pipeline.itemUpserts == 43 && $0.pipeline.examplesTrained == 400 }
        #expect(first.status.learner["live_items"] == 43)
        try await first.stop()

        let before = try Self.latestModel(dir)
        #expect(before.liveItemCount == 43)
        let exhaustive = Self.retrievedIDs(before, mode: .exhaustive)
        let beam = Self.retrievedIDs(before, mode: Self.fullBeam)
        #expect(exhaustive == Set(catalog + fresh), "exhaustive retrieval misses \(Set(catalog + fresh).subtracting(exhaustive).sorted())")
        #expect(beam == Set(catalog + fresh), "the index misses \(Set(catalog + fresh).subtracting(beam).sorted())")
        // A single user's top-43 holds every live item, the new ones included.
        let one = before.retrieve(UserQuery(userID: "u3"), k: before.liveItemCount, mode: .exhaustive, excludeSeen: false)
        #expect(Set(one.items.map(\.itemID)).isSuperset(of: fresh))

        // Phase 2: a JSON delete and a tombstone on the catalog topic, then impressions that
        // still mention the deleted items (a delete is final until a new upsert).
        try cluster.produceRaw(Array(#"{"type":"item","op":"delete","item_id":"fresh-deleted-json","ts_ms":\#(Self.baseMs + 900_000)}"#.utf8),
                               topic: "hsnn.items", key: Array("fresh-deleted-json".utf8))
        try cluster.produceRaw(nil, topic: "hsnn.items", key: Array("fresh-deleted-tombstone".utf8))
        try cluster.flush()
        let second = RunningDaemon(settings: settings, factory: factory)
        try await second.wait("2 deletes") { $0.pipeline.itemDeletes == 2 }
        try Self.produceImpressions(1_000..<1_400, items: catalog + fresh, on: cluster)
        try cluster.flush()
        try await second.wait("800 examples") { $0.pipeline.examplesTrained == 800 }
        #expect(second.status.learner["live_items"] == 41)
        try await second.stop()

        let after = try Self.latestModel(dir)
        #expect(after.liveItemCount == 41)
        let deleted: Set<String> = ["fresh-deleted-json", "fresh-deleted-tombstone"]
        let live = Set(catalog + ["fresh-kept"])
        let exhaustiveAfter = Self.retrievedIDs(after, mode: .exhaustive)
        let beamAfter = Self.retrievedIDs(after, mode: Self.fullBeam)
        #expect(exhaustiveAfter.isDisjoint(with: deleted), "deleted items retrieved: \(exhaustiveAfter.intersection(deleted).sorted())")
        #expect(beamAfter.isDisjoint(with: deleted), "deleted items still in the index: \(beamAfter.intersection(deleted).sorted())")
        #expect(exhaustiveAfter == live)
        #expect(beamAfter == live)
        // The default (narrow) beam returns live items only.
        for user in 0..<20 {
            let result = after.retrieve(UserQuery(userID: "u\(user)"), k: 10, excludeSeen: false)
            #expect(Set(result.items.map(\.itemID)).isDisjoint(with: deleted))
            #expect(!result.items.isEmpty)
        }
    }
}
