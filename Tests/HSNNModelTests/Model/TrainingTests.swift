import Foundation
import HSNNEvents
import HSNNMath
import Testing
@testable import HSNNModel

@Test func trainingLowersTheLossOnAStream() throws {
    let events = try smallStream(impressions: 20_000)
    // Wide enough for the click head and the retrieval head to share the towers.
    var config = smallConfig()
    config.itemLevel = MoNNSize(userRows: 2, itemRows: 2, towerHidden: [32], interactionHidden: [16], overHidden: [32])
    let model = try RetrievalModel(config: config)
    var batch: [LabeledExample] = []
    let evaluator = Evaluator()
    let cut = events.count * 8 / 10
    for e in events[..<cut] { evaluator.observeTrain(e) }
    for e in events[cut...] { evaluator.observeTest(e) }
    feed(model, events[..<cut], batch: &batch)
    var options = Evaluator.Options()
    options.beamSweep = [[1, 3], [8, 3]]
    let report = evaluator.evaluate(model, options: options)
    #expect(report.ne < 1, "NE \(report.ne) should beat the constant click rate")
    #expect(report.users > 0)
    #expect(report.beamSweep.count == 2)
    #expect(report.beamSweep[0].itemsScoredPerUser <= report.beamSweep[1].itemsScoredPerUser)
}
