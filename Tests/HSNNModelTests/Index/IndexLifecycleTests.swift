import Foundation
import HSNNEvents
import HSNNMath
import Testing
@testable import HSNNModel

@Test(arguments: [2, 3])
func indexInvariantsHoldThroughTheItemLifecycle(levels: Int) throws {
    let events = try smallStream()
    let model = try RetrievalModel(config: smallConfig(levels: levels))
    var batch: [LabeledExample] = []
    var deleted = Set<String>()
    for e in events {
        if case .item(let item) = e {
            if item.op == .delete { deleted.insert(item.itemID) } else { deleted.remove(item.itemID) }
        }
        feed(model, [e][...], batch: &batch)
    }
    let index = try #require(model.index)
    // Each live item sits on exactly one leaf; deleted items on none.
    var count = [Int](repeating: 0, count: model.catalog.count)
    for leaf in index.members { for i in leaf { count[Int(i)] += 1 } }
    for i in 0..<model.catalog.count {
        #expect(count[i] == (model.catalog.live[i] ? 1 : 0), "item \(model.catalog.ids[i]) live=\(model.catalog.live[i]) on \(count[i]) leaves")
    }
    let stats = try #require(model.indexStatistics)
    #expect(stats.indexedItems == model.liveItemCount)
    #expect(stats.leaves == index.leafCount)
    #expect(!deleted.isEmpty)
    // Deleted items are never retrieved, even exhaustively with k = every item.
    let user = UserQuery(userID: "3")
    let all = model.retrieve(user, k: model.catalog.count, mode: .exhaustive, excludeSeen: false)
    #expect(all.items.count == model.liveItemCount)
    #expect(all.items.allSatisfy { !deleted.contains($0.itemID) })
    // A new item is retrievable at once: upsert it, then find it with a beam that keeps every node.
    model.apply(ItemEvent(op: .upsert, itemID: "brand-new", timestampMs: model.counters.nowMs,
                          features: Features([("category", .string("cat01")), ("genre", .strings(["g02"]))])))
    let wide = model.retrieve(user, k: model.catalog.count, mode: .beam(widths: [1_000, 1_000]), excludeSeen: false)
    #expect(wide.items.contains { $0.itemID == "brand-new" })
    #expect(wide.itemsScored == model.liveItemCount)
    // ... and deleting it removes it at once.
    model.apply(ItemEvent(op: .delete, itemID: "brand-new", timestampMs: model.counters.nowMs))
    #expect(!model.retrieve(user, k: model.catalog.count, mode: .exhaustive, excludeSeen: false).items.contains { $0.itemID == "brand-new" })
    // A narrow beam scores fewer items than exhaustive search.
    let narrow = model.retrieve(user, k: 10, mode: .beam(widths: [1, 1]), excludeSeen: false)
    #expect(narrow.itemsScored < model.liveItemCount)
    #expect(narrow.items.count <= 10)
}
