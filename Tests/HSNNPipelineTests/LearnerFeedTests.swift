import HSNNEvents
import HSNNPipeline
import Testing

/// Records what it is asked to do, so tests can compare runs.
private final class RecordingLearner: OnlineLearner {
    var log: [String] = []
    func apply(_ item: ItemEvent) { log.append("\(item.op.rawValue):\(item.itemID)") }
    func train(_ batch: [LabeledExample]) {
        log.append("batch[" + batch.map { "\($0.impression.eventID)=\($0.clicked ? 1 : 0)" }.joined(separator: ",") + "]")
    }
}

@Suite struct LearnerFeedTests {
    let source = StreamPartition(topic: "hsnn.events", partition: 0)

    func events(_ n: Int) -> [Event] {
        var out: [Event] = []
        for k in 0..<n {
            if k % 10 == 0 {
                out.append(.item(ItemEvent(op: .upsert, itemID: "it\(k)", timestampMs: Int64(k) * 1000)))
            } else if k % 4 == 0 {
                out.append(.click(ClickEvent(eventID: "c\(k)", requestID: "r\(k - 1)", timestampMs: Int64(k) * 1000, userID: "u", itemID: "i\(k - 1)")))
            } else {
                out.append(.impression(ImpressionEvent(
                    eventID: "e\(k)", requestID: "r\(k)", timestampMs: Int64(k) * 1000, userID: "u", itemID: "i\(k)",
                    clicked: k % 3 == 0 ? true : nil)))
            }
        }
        return out
    }

    fileprivate func pipeline(_ learner: RecordingLearner) -> LearnerFeed {
        LearnerFeed(learner: learner, joiner: ImpressionClickJoiner(configuration: JoinerConfiguration(attributionWindowMs: 5_000)), batchSize: 4)
    }

    @Test func trainsFullBatchesAndTracksOffsets() {
        let learner = RecordingLearner()
        let p = pipeline(learner)
        for (offset, e) in events(100).enumerated() { p.process(e, from: source, offset: Int64(offset)) }
        p.skip(from: source, offset: 100)
        #expect(p.nextOffsets[source] == 101)
        #expect(p.counters.skippedMalformed == 1)
        #expect(p.counters.examplesTrained % 4 == 0)
        #expect(p.counters.examplesTrained > 0)
        p.finish()
        let impressions = events(100).filter { if case .impression = $0 { true } else { false } }.count
        #expect(p.counters.examplesTrained == Int64(impressions))
        #expect(learner.log.contains("upsert:it10"))
    }

    @Test func resumingFromStateTrainsExactlyTheSame() {
        let all = events(203)
        let reference = RecordingLearner()
        let p = pipeline(reference)
        for (offset, e) in all.enumerated() { p.process(e, from: source, offset: Int64(offset)) }

        for cut in [1, 57, 101, 150] {
            let learner = RecordingLearner()
            let first = pipeline(learner)
            for (offset, e) in all[..<cut].enumerated() { first.process(e, from: source, offset: Int64(offset)) }
            let state = first.state()
            #expect(state.nextOffsets[source] == Int64(cut))
            let resumed = LearnerFeed(learner: learner, joinerConfiguration: first.joiner.configuration, batchSize: 4, state: state)
            for offset in cut..<all.count { resumed.process(all[offset], from: source, offset: Int64(offset)) }
            #expect(learner.log == reference.log)
            #expect(resumed.counters == p.counters)
        }
    }
}
