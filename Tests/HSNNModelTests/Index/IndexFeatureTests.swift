import Foundation
import HSNNEvents
import HSNNMath
import Testing
@testable import HSNNModel

/// The attribute signature in item vectors and the node profiles behind the index levels'
/// cross features.
@Suite struct IndexFeatureTests {
    /// A trained small model (items with births and deletes, full re-mappings).
    func trainedModel(_ configure: (inout ModelConfig) -> Void = { _ in }) throws -> RetrievalModel {
        var config = smallConfig()
        configure(&config)
        let model = try RetrievalModel(config: config)
        var batch: [LabeledExample] = []
        feed(model, try smallStream()[...], batch: &batch)
        return model
    }

    @Test func itemsWithTheSameValuesGetTheSameSignatureAndOthersDiffer() throws {
        let model = try trainedModel()
        let index = try #require(model.index)
        let ws = try #require(model.serving.indexWS)
        func features(_ creator: String, _ genres: [String]) -> Features {
            Features([("creator", .string(creator)), ("genre", .strings(genres))])
        }
        for (id, f) in [("a", features("c1", ["g1", "g2"])), ("b", features("c1", ["g2", "g1"])), ("c", features("c2", ["g1", "g2"]))] {
            model.apply(ItemEvent(op: .upsert, itemID: id, timestampMs: model.counters.nowMs, features: f))
        }
        let ids = ["a", "b", "c"].map { model.catalog.index(of: $0)! }
        index.writeSignatures(ids + [-1], catalog: model.catalog, nowMs: model.counters.nowMs, into: ws)
        let d = index.dim
        let a = Array(UnsafeBufferPointer(start: ws.signature.row(0), count: d))
        let b = Array(UnsafeBufferPointer(start: ws.signature.row(1), count: d))
        let c = Array(UnsafeBufferPointer(start: ws.signature.row(2), count: d))
        let unknown = Array(UnsafeBufferPointer(start: ws.signature.row(3), count: d))
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-6 }, "value order must not matter")
        #expect(abs(a.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4, "signatures are unit vectors")
        #expect(zip(a, c).contains { abs($0 - $1) > 1e-3 }, "a different creator changes the signature")
        #expect(unknown.allSatisfy { $0 == 0 })
        // Slot weights come from the item level's interaction tower: the id slot never counts.
        #expect(index.slotWeights[0] == 0)
        #expect(index.slotWeights.max() == 1)
    }

    @Test func popularityCountsInTheSignatureOnlyWhenAskedFor() throws {
        let plain = try trainedModel()
        #expect(try #require(plain.index).slotWeights.last == 0)
        let withPopularity = try trainedModel { $0.signaturePopularity = true }
        let index = try #require(withPopularity.index)
        #expect(index.slotWeights.last.map { $0 > 0 } == true)
        // Two items with the same values but different click counts get different signatures.
        let ws = try #require(withPopularity.serving.indexWS)
        let model = withPopularity
        let f = Features([("creator", .string("c9")), ("genre", .strings(["g1"]))])
        for id in ["cold", "hot"] { model.apply(ItemEvent(op: .upsert, itemID: id, timestampMs: model.counters.nowMs, features: f)) }
        let hot = Int(model.catalog.index(of: "hot")!)
        model.catalog.popClicks[hot] = 1_000
        model.catalog.popUpdatedMs[hot] = model.counters.nowMs
        index.writeSignatures([model.catalog.index(of: "cold")!, Int32(hot)], catalog: model.catalog, nowMs: model.counters.nowMs, into: ws)
        let d = index.dim
        #expect((0..<d).contains { abs(ws.signature.row(0)[$0] - ws.signature.row(1)[$0]) > 1e-3 })
    }

    @Test func withoutTheAttributeWeightTheSignatureIsOff() throws {
        let model = try trainedModel { $0.attributeWeight = 0 }
        let index = try #require(model.index)
        let ws = try #require(model.serving.indexWS)
        index.writeSignatures([0, 1], catalog: model.catalog, nowMs: model.counters.nowMs, into: ws)
        #expect(!ws.useSignature)
    }

    @Test func profilesHoldNodeValuesAndMatchItemCrossFeatures() throws {
        let model = try trainedModel()
        let index = try #require(model.index)
        let profiles = model.computeNodeProfiles()
        #expect(profiles.count == index.levels)
        #expect(profiles.allSatisfy { $0.isConsistent })
        // The popular item is one of the node's items; its values are in the profile.
        let leafProfile = profiles[index.levels - 1]
        let vpi = model.catalog.valuesPerItem
        for leaf in 0..<index.leafCount where !index.members[leaf].isEmpty {
            let values = Set(leafProfile.hashes[Int(leafProfile.offsets[leaf])..<Int(leafProfile.offsets[leaf + 1])])
            #expect(index.members[leaf].contains(leafProfile.popular[leaf]))
            #expect(!values.isEmpty)
        }
        // Cross features of a value set holding exactly one item's values equal the item's own,
        // for the slots where the item has one value (the id slot stays zero for a set).
        let w = model.cross.width
        let item = UnsafeMutablePointer<Float>.allocate(capacity: w), set = UnsafeMutablePointer<Float>.allocate(capacity: w)
        defer { item.deallocate(); set.deallocate() }
        var compared = 0
        for (u, h) in model.cross.users.sorted(by: { $0.key < $1.key }).prefix(20) {
            _ = u
            for i in 0..<model.catalog.count where model.catalog.live[i] && compared < 200 {
                let hashes = (0..<vpi).map { model.catalog.valueHash[i * vpi + $0] }.filter { $0 != 0 }
                let slots = (0..<vpi).filter { model.catalog.valueHash[i * vpi + $0] != 0 }.map { model.catalog.valueSlot[i * vpi + $0] }
                model.cross.write(user: h, item: i, catalog: model.catalog, nowMs: model.counters.nowMs, into: item)
                hashes.withUnsafeBufferPointer { hp in
                    slots.withUnsafeBufferPointer { sp in
                        model.cross.write(user: h, values: hp, slots: sp, popularItem: i, catalog: model.catalog, nowMs: model.counters.nowMs, into: set)
                    }
                }
                for s in 1..<model.cross.itemSlots where slots.filter({ Int($0) == s }).count == 1 {
                    for j in (s * 5)..<(s * 5 + 5) { #expect(abs(item[j] - set[j]) < 1e-6, "slot \(s) column \(j)") }
                }
                for j in 0..<5 { #expect(set[j] == 0) }
                for j in (model.cross.itemSlots * 5)..<w { #expect(abs(item[j] - set[j]) < 1e-6, "column \(j)") }
                compared += 1
            }
        }
        #expect(compared > 0)
    }

    @Test func exhaustiveRetrievalReportsFirstLevelRanks() throws {
        let model = try trainedModel()
        let r = model.retrieve(UserQuery(userID: "3"), k: 20, mode: .exhaustive, excludeSeen: false)
        #expect(r.firstLevelRanks.count == r.items.count)
        let nodes = try #require(model.index).sizes[0]
        #expect(r.firstLevelRanks.allSatisfy { $0 >= 0 && $0 < nodes })
        // A beam as wide as the largest rank keeps every one of these items.
        let width = (r.firstLevelRanks.max() ?? 0) + 1
        let beam = model.retrieve(UserQuery(userID: "3"), k: 20, mode: .beam(widths: [width, 1_000]), excludeSeen: false)
        #expect(Set(beam.items.map(\.itemID)) == Set(r.items.map(\.itemID)))
    }
}
