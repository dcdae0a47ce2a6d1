import HSNNEvents
import Testing
@testable import HSNNModel

@Suite struct ItemExpiryTests {
    @Test func itemsNotSeenSinceTheCutoffExpireAndAreNeverRetrieved() throws {
        let model = try RetrievalModel(config: tinyConfig(levels: 2))
        for (n, ts) in [(0, Int64(1_000)), (1, 2_000), (2, 50_000)] {
            model.apply(ItemEvent(op: .upsert, itemID: "i\(n)", timestampMs: ts, features: Features([("genre", .strings(["g\(n)"]))])))
        }
        // An impression keeps i1 fresh.
        let seen = ImpressionEvent(eventID: "e", requestID: "r", timestampMs: 60_000, userID: "u", itemID: "i1", clicked: true)
        model.train(Array(repeating: LabeledExample(impression: seen, clicked: true), count: 8))
        let expired = model.expireItems(notSeenSince: 40_000)
        #expect(expired == ["i0"])
        let result = model.retrieve(UserQuery(userID: "u"), k: 10, mode: .exhaustive, excludeSeen: false)
        #expect(Set(result.items.map(\.itemID)) == ["i1", "i2"])
        #expect(model.liveItemCount == 2)
        // A later upsert brings it back.
        model.apply(ItemEvent(op: .upsert, itemID: "i0", timestampMs: 70_000))
        #expect(model.retrieve(UserQuery(userID: "u"), k: 10, mode: .exhaustive, excludeSeen: false).items.contains { $0.itemID == "i0" })
    }
}
