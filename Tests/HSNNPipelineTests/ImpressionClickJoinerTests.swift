import HSNNEvents
import HSNNPipeline
import Testing

private func impression(_ id: String, request: String = "r", user: String = "u", item: String = "i", at ts: Int64, clicked: Bool? = nil) -> Event {
    .impression(ImpressionEvent(eventID: id, requestID: request, timestampMs: ts, userID: user, itemID: item, clicked: clicked))
}

private func click(_ id: String, request: String = "r", user: String = "u", item: String = "i", at ts: Int64) -> Event {
    .click(ClickEvent(eventID: id, requestID: request, timestampMs: ts, userID: user, itemID: item))
}

@Suite struct ImpressionClickJoinerTests {
    let window: Int64 = 10_000

    func joiner(maxPending: Int = 100, policy: JoinerConfiguration.OverflowPolicy = .emitNegative) -> ImpressionClickJoiner {
        ImpressionClickJoiner(configuration: JoinerConfiguration(
            attributionWindowMs: window, maxPending: maxPending, overflowPolicy: policy, maxPartitionLagMs: 5_000, dedupeCapacity: 1_000))
    }

    @Test func prelabeledImpressionsPassStraightThrough() {
        let j = joiner()
        var out: [LabeledExample] = []
        j.process(impression("e1", at: 1, clicked: true), into: &out)
        j.process(impression("e2", at: 2, clicked: false), into: &out)
        #expect(out.map(\.clicked) == [true, false])
        #expect(j.counters.prelabeled == 2)
        #expect(j.counters.pendingImpressions == 0)
    }

    @Test func clickWithinWindowMakesPositive() {
        let j = joiner()
        var out: [LabeledExample] = []
        j.process(impression("e1", request: "r1", item: "a", at: 1_000), into: &out)
        j.process(impression("e2", request: "r1", item: "b", at: 1_000), into: &out)
        #expect(out.isEmpty)
        j.process(click("c1", request: "r1", item: "b", at: 3_000), into: &out)
        #expect(out.count == 1)
        #expect(out[0].impression.eventID == "e2" && out[0].clicked)
        // The other impression expires negative once event time passes its window.
        j.process(impression("e3", request: "r2", item: "x", at: 1_000 + window, clicked: false), into: &out)
        #expect(out.map(\.impression.eventID) == ["e2", "e1", "e3"])
        #expect(out[1].clicked == false)
        #expect(j.counters.joinedPositive == 1 && j.counters.expiredNegative == 1)
    }

    @Test func fallsBackToUserAndItem() {
        let j = joiner()
        var out: [LabeledExample] = []
        j.process(impression("e1", request: "r1", user: "7", item: "42", at: 100), into: &out)
        j.process(click("c1", request: "other", user: "7", item: "42", at: 200), into: &out)
        #expect(out.count == 1 && out[0].clicked)
    }

    @Test func clickAfterWindowIsNotPositive() {
        let j = joiner()
        var out: [LabeledExample] = []
        j.process(impression("e1", at: 0), into: &out)
        j.process(click("c1", at: window + 1), into: &out)
        #expect(out.count == 1)
        #expect(out[0].clicked == false)
        #expect(j.counters.unmatchedClicks == 1 || j.counters.pendingClicks == 1)
        j.process(impression("late", request: "z", item: "z", at: 3 * window, clicked: true), into: &out)
        #expect(j.counters.unmatchedClicks == 1)
        #expect(j.counters.joinedPositive == 0)
    }

    @Test func clickBeforeImpressionStillJoins() {
        let j = joiner()
        var out: [LabeledExample] = []
        j.process(click("c1", at: 500), into: &out)
        #expect(out.isEmpty && j.counters.pendingClicks == 1)
        j.process(impression("e1", at: 400), into: &out)
        #expect(out.count == 1 && out[0].clicked)
        #expect(j.counters.pendingClicks == 0 && j.counters.unmatchedClicks == 0)
    }

    @Test func orphanClicksAreCountedNeverTrained() {
        let j = joiner()
        var out: [LabeledExample] = []
        j.process(click("c1", request: "nobody", at: 0), into: &out)
        j.process(impression("e9", request: "q", item: "q", at: 2 * window, clicked: false), into: &out)
        #expect(out.count == 1 && out[0].clicked == false)
        #expect(j.counters.unmatchedClicks == 1)
    }

    @Test func duplicatesAreDropped() {
        let j = joiner()
        var out: [LabeledExample] = []
        j.process(impression("e1", at: 1, clicked: true), into: &out)
        j.process(impression("e1", at: 1, clicked: true), into: &out)
        j.process(click("c1", at: 2), into: &out)
        j.process(click("c1", at: 2), into: &out)
        #expect(out.count == 1)
        #expect(j.counters.duplicates == 2)
    }

    @Test func quietPartitionDoesNotHoldExamplesForever() {
        let j = joiner()
        var out: [LabeledExample] = []
        j.process(impression("e1", at: 1_000), partition: 0, into: &out)
        // Partition 1 is quiet after its first event; partition 0 keeps moving.
        j.process(impression("p1", request: "p", item: "p", at: 1_000, clicked: false), partition: 1, into: &out)
        for step in 1...40 {
            j.process(impression("x\(step)", request: "x\(step)", item: "x", at: 1_000 + Int64(step) * 1_000, clicked: false), partition: 0, into: &out)
        }
        #expect(out.contains { $0.impression.eventID == "e1" && !$0.clicked })
    }

    @Test func slowPartitionWithinLagHoldsTheWatermark() {
        let j = joiner()
        var out: [LabeledExample] = []
        j.process(impression("e1", at: 0), partition: 1, into: &out)
        j.process(impression("a", request: "a", item: "a", at: 0, clicked: false), partition: 0, into: &out)
        // Partition 0 races ahead by less than window + lag: partition 1's click can still match.
        j.process(impression("b", request: "b", item: "b", at: window + 1_000, clicked: false), partition: 0, into: &out)
        j.process(click("c1", at: 5_000), partition: 1, into: &out)
        #expect(out.contains { $0.impression.eventID == "e1" && $0.clicked })
    }

    @Test(arguments: [JoinerConfiguration.OverflowPolicy.emitNegative, .dropOldest])
    func overflowFollowsPolicy(policy: JoinerConfiguration.OverflowPolicy) {
        let j = joiner(maxPending: 3, policy: policy)
        var out: [LabeledExample] = []
        for n in 0..<5 { j.process(impression("e\(n)", request: "r\(n)", at: 0), into: &out) }
        #expect(j.counters.overflow == 2)
        #expect(j.counters.pendingImpressions == 3)
        #expect(out.count == (policy == .emitNegative ? 2 : 0))
        if policy == .emitNegative { #expect(out.map(\.impression.eventID) == ["e0", "e1"]) }
    }

    @Test func stateRoundTripContinuesIdentically() {
        var events: [Event] = []
        for n in 0..<400 {
            let ts = Int64(n) * 700
            events.append(impression("i\(n)", request: "r\(n % 50)", user: "u\(n % 13)", item: "it\(n % 31)", at: ts))
            if n % 3 == 0 { events.append(click("c\(n)", request: "r\(n % 50)", user: "u\(n % 13)", item: "it\(n % 31)", at: ts + 2_000)) }
            if n % 17 == 0 { events.append(impression("i\(n)", at: ts)) } // duplicate
        }
        let reference = joiner()
        var expected: [LabeledExample] = []
        for (k, e) in events.enumerated() { reference.process(e, partition: Int32(k % 2), into: &expected) }

        let first = joiner()
        var actual: [LabeledExample] = []
        let cut = events.count / 2
        for (k, e) in events[..<cut].enumerated() { first.process(e, partition: Int32(k % 2), into: &actual) }
        let resumed = ImpressionClickJoiner(configuration: first.configuration, state: first.state())
        #expect(resumed.state() == first.state())
        for (k, e) in events[cut...].enumerated() { resumed.process(e, partition: Int32((k + cut) % 2), into: &actual) }
        #expect(actual == expected)
        #expect(resumed.counters == reference.counters)
    }

    @Test func flushLabelsEverythingPendingNegative() {
        let j = joiner()
        var out: [LabeledExample] = []
        j.process(impression("e1", at: 0), into: &out)
        j.process(impression("e2", request: "r2", at: 0), into: &out)
        j.flush(into: &out)
        #expect(out.count == 2 && out.allSatisfy { !$0.clicked })
        #expect(j.counters.pendingImpressions == 0)
    }
}
