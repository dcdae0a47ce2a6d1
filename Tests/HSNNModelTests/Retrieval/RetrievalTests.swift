import Foundation
import HSNNEvents
import HSNNMath
import Testing
@testable import HSNNModel

@Test func retrievalScoresMatchImpressionScores() throws {
    let events = try smallStream()
    let model = try RetrievalModel(config: smallConfig())
    var batch: [LabeledExample] = []
    feed(model, events[...], batch: &batch)
    model.remapAll()
    let features = Features([("age", .string("25-34")), ("segment", .string("s1"))])
    let top = model.retrieve(UserQuery(userID: "7", userFeatures: features), k: 5, mode: .exhaustive, excludeSeen: false)
    #expect(top.items.count == 5)
    #expect(zip(top.items, top.items.dropFirst()).allSatisfy { $0.score >= $1.score })
    let impressions = top.items.map {
        ImpressionEvent(eventID: "x", requestID: "x", timestampMs: model.counters.nowMs, userID: "7", itemID: $0.itemID, userFeatures: features)
    }
    // Retrieval ranks by the retrieval head; the batch path gives the same logits.
    let logits = model.itemLevelLogits(impressions, head: 1)
    for (item, z) in zip(top.items, logits) {
        #expect(abs(item.score - z) < 1e-3 * max(1, abs(z)), "\(item.itemID): retrieve \(item.score) vs batch \(z)")
    }
    // Click probabilities come from the other head.
    let p = model.score(impressions)
    let click = model.itemLevelLogits(impressions, head: 0)
    for (prob, z) in zip(p, click) { #expect(abs(prob - Loss.sigmoid(z)) < 1e-6) }
    #expect(zip(p, logits).contains { abs($0 - Loss.sigmoid($1)) > 1e-3 }, "the two heads differ")
}

@Test func retrievalLeavesOutSeenItemsUnlessAsked() throws {
    let events = try smallStream()
    let model = try RetrievalModel(config: smallConfig())
    var batch: [LabeledExample] = []
    feed(model, events[...], batch: &batch)
    var seen = Set<String>()
    for case .impression(let imp) in events where imp.userID == "7" { seen.insert(imp.itemID) }
    #expect(!seen.isEmpty)
    let user = UserQuery(userID: "7")
    let fresh = model.retrieve(user, k: model.catalog.count, mode: .exhaustive)
    let all = model.retrieve(user, k: model.catalog.count, mode: .exhaustive, excludeSeen: false)
    #expect(fresh.items.allSatisfy { !seen.contains($0.itemID) })
    #expect(all.items.contains { seen.contains($0.itemID) })
    #expect(all.items.count == model.liveItemCount)
}

@Test func lastBeamLevelWidensToEnoughCandidates() throws {
    let events = try smallStream()
    var config = smallConfig()
    config.beamMinItemsPerK = 8
    let model = try RetrievalModel(config: config)
    var batch: [LabeledExample] = []
    feed(model, events[...], batch: &batch)
    model.remapAll()
    let user = UserQuery(userID: "3")
    let r = model.retrieve(user, k: 5, mode: .beam(widths: [1, 1]), excludeSeen: false)
    #expect(r.itemsScored >= min(40, model.liveItemCount))
    #expect(r.items.count == 5)
}

@Test func beamScoresTheModelsHeadItemsWithTheirExhaustiveScores() throws {
    let events = try smallStream()
    func trained(headShare: Double) throws -> RetrievalModel {
        var config = smallConfig()
        config.beamMinItemsPerK = 0
        config.beamHeadShare = headShare
        config.beamHeadPerK = 10
        let model = try RetrievalModel(config: config)
        var batch: [LabeledExample] = []
        feed(model, events[...], batch: &batch)
        model.remapAll()
        return model
    }
    let model = try trained(headShare: 0.1)
    let user = UserQuery(userID: "3")
    let all = model.liveItemCount
    let beam = model.retrieve(user, k: all, mode: .beam(widths: [1, 1]), excludeSeen: false)
    let head = model.servingHead().map { model.catalog.ids[Int($0)] }
    #expect(head.count == Int((0.1 * Double(all)).rounded(.up)))
    // Every head item is a candidate, even far from the one leaf the beam kept ...
    let returned = Set(beam.items.map(\.itemID))
    #expect(head.allSatisfy { returned.contains($0) })
    // ... scored exactly as exhaustive retrieval scores it (its ancestors' outputs included).
    let exhaustive = Dictionary(uniqueKeysWithValues: model.retrieve(user, k: all, mode: .exhaustive, excludeSeen: false)
        .items.map { ($0.itemID, $0.score) })
    for item in beam.items {
        let reference = try #require(exhaustive[item.itemID])
        #expect(abs(item.score - reference) <= 1e-5 * max(1, abs(reference)), "\(item.itemID): \(item.score) vs \(reference)")
    }
    // The head is a serving setting: without it the same training gives the same leaf, whose
    // items are all the beam scores.
    let bare = try trained(headShare: 0)
    let leafOnly = bare.retrieve(user, k: all, mode: .beam(widths: [1, 1]), excludeSeen: false)
    #expect(bare.servingHead().isEmpty)
    #expect(leafOnly.itemsScored < beam.itemsScored)
    #expect(beam.itemsScored <= leafOnly.itemsScored + head.count)
    #expect(Set(leafOnly.items.map(\.itemID)).isSubset(of: returned))
    // A query for k items uses the first beam_head_per_k * k head items only.
    let one = model.retrieve(user, k: 1, mode: .beam(widths: [1, 1]), excludeSeen: false)
    let oneBare = bare.retrieve(user, k: 1, mode: .beam(widths: [1, 1]), excludeSeen: false)
    #expect(model.config.beamHeadPerK < head.count)
    #expect(one.itemsScored <= oneBare.itemsScored + model.config.beamHeadPerK)
    #expect(one.itemsScored > oneBare.itemsScored)
}
