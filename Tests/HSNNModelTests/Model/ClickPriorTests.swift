import Foundation
import HSNNEvents
import HSNNMath
import HSNNTestSupport
import Testing
@testable import HSNNModel

/// The item level's click logit is the learned ensemble of the level outputs plus the item's
/// smoothed lifetime log-odds, computed here from the counts recorded.
@Test func theClickLogitCarriesTheItemsLifetimeLogOdds() throws {
    let model = try RetrievalModel(config: tinyConfig())
    for item in tinyItems() { model.apply(item) }
    // i3: 10 impressions, 8 clicks; i4: 20 impressions, 4 clicks; all at one time (no decay).
    var outcomes: [LabeledExample] = []
    for k in 0..<30 {
        let clicked = k < 8 || (k >= 10 && k < 14)
        let imp = ImpressionEvent(eventID: "o\(k)", requestID: "o\(k)", timestampMs: 5_000, userID: "v\(k % 4)",
                                  itemID: k < 10 ? "i3" : "i4")
        outcomes.append(LabeledExample(impression: imp, clicked: clicked))
    }
    model.recordOutcomes(outcomes)
    let probes = ["i3", "i4", "i5", "unknown"].map {
        ImpressionEvent(eventID: "p", requestID: "p", timestampMs: 5_000, userID: "u9", itemID: $0)
    }
    let logits = model.itemLevelLogits(probes, head: 0)
    // Prior rate 12 / 30; each item smoothed with 20 pseudo-impressions at that rate.
    let logit = { (p: Double) in log(p / (1 - p)) }
    let p0 = 12.0 / 30.0
    let priors = [logit((8 + 20 * p0) / 30), logit((4 + 20 * p0) / 40), logit(p0), logit(p0)]
    let L = model.levelCount, ws = model.batch
    for j in probes.indices {
        var network = model.ensembleBias.value.base[L - 1]
        for t in 0..<L { network += model.ensembleWeight.value[L - 1, t] * ws.levelOutput[t, j] }
        let offset = Double(logits[j] - network)
        #expect(abs(offset - priors[j]) < 1e-4, "\(probes[j].itemID): offset \(offset), expected \(priors[j])")
    }
}

/// A frozen model scores an impression later than the newest one its counters hold as if it
/// came at that newest time: decayed counts and recencies do not fade with time it never saw.
@Test func aFrozenModelReadsItsCountersAtTheNewestImpressionItHolds() throws {
    let (model, events) = try modelTrainedOnSmallStream(smallConfig(), impressions: 6_000)
    let newest = model.cross.globalUpdatedMs
    let seen = impressions(in: events).suffix(40)
    let later = Int64(30 * 86_400_000)
    let atNewest = seen.map { ImpressionEvent(eventID: $0.eventID, requestID: $0.requestID, timestampMs: newest, userID: $0.userID,
                                              itemID: $0.itemID, userFeatures: $0.userFeatures) }
    let afterAMonth = atNewest.map { ImpressionEvent(eventID: $0.eventID, requestID: $0.requestID, timestampMs: newest + later,
                                                     userID: $0.userID, itemID: $0.itemID, userFeatures: $0.userFeatures) }
    #expect(model.score(atNewest) == model.score(afterAMonth))
    // The counters themselves do fade over that month: read at its end they differ.
    let imp = atNewest[0]
    let item = try #require(model.catalog.index(of: imp.itemID))
    var now = [Float](repeating: 0, count: model.cross.width), month = now
    let history = model.cross.users[stableHash("user_id", imp.userID)]
    model.cross.write(user: history, item: Int(item), catalog: model.catalog, nowMs: newest, into: &now)
    model.cross.write(user: history, item: Int(item), catalog: model.catalog, nowMs: newest + later, into: &month)
    #expect(now != month)
}

/// Without the retrieval objective, retrieval ranks by the click head: its scores are the whole
/// click logits of the batch path, the click prior included.
@Test func retrievalByTheClickHeadScoresTheWholeClickLogit() throws {
    var config = smallConfig()
    config.retrievalNegatives = 0
    let (model, _) = try modelTrainedOnSmallStream(config, impressions: 6_000)
    model.remapAll()
    for mode in [RetrievalMode.exhaustive, .beam(widths: nil)] {
        let top = model.retrieve(UserQuery(userID: "7", userFeatures: Features()), k: 5, mode: mode, excludeSeen: false)
        #expect(top.items.count == 5)
        let impressions = top.items.map {
            ImpressionEvent(eventID: "x", requestID: "x", timestampMs: model.counters.nowMs, userID: "7", itemID: $0.itemID)
        }
        let logits = model.itemLevelLogits(impressions, head: 0)
        for (item, z) in zip(top.items, logits) {
            #expect(abs(item.score - z) < 1e-3 * max(1, abs(z)), "\(mode) \(item.itemID): retrieve \(item.score) vs batch \(z)")
        }
    }
}

/// A model folder written before `model.click_prior` existed was trained without the prior: it
/// loads with the prior off and scores as it did.
@Test func aModelFolderFromBeforeTheClickPriorLoadsWithoutIt() throws {
    var config = smallConfig()
    config.clickPrior = false
    let (model, events) = try modelTrainedOnSmallStream(config, impressions: 1_000)
    let folder = try TemporaryDirectory(prefix: "hsnn-model")
    try model.write(to: folder.url)
    try rewriteModelConfiguration(in: folder.url) { #expect($0.removeValue(forKey: "clickPrior") != nil) }
    let loaded = try RetrievalModel.load(from: folder.url)
    #expect(loaded.config == config)
    let probes = impressions(in: events).suffix(20)
    #expect(loaded.score(Array(probes)) == model.score(Array(probes)))
    // The same folder with the prior on scores differently: the key decides.
    try rewriteModelConfiguration(in: folder.url) { $0["clickPrior"] = true }
    #expect(try RetrievalModel.load(from: folder.url).score(Array(probes)) != model.score(Array(probes)))
}

/// With `model.click_prior_strength` 0 the smoothing of the lifetime click rates is fitted to
/// the stream: every `priorStrengthEveryBatches` batches, the method-of-moments fit of a beta
/// prior to the items' lifetime counts. Here it equals that fit computed from the impressions
/// trained by the last fit, counted exactly, and the click prior smooths with it.
@Test func theLifetimeSmoothingIsFittedToTheTrainedCounts() throws {
    let config = smallConfig()
    #expect(config.clickPriorStrength == 0)
    let (model, events) = try modelTrainedOnSmallStream(config, impressions: 6_000)
    let every = RetrievalModel.priorStrengthEveryBatches
    let fittedOn = Int(model.counters.batches / every * every) * config.batchSize
    #expect(fittedOn > 0 && fittedOn < Int(model.counters.examplesTrained))
    var shown: [String: Double] = [:], clicked: [String: Double] = [:]
    let trained = impressions(in: events).prefix(fittedOn)
    for imp in trained {
        shown[imp.itemID, default: 0] += 1
        clicked[imp.itemID, default: 0] += imp.clicked == true ? 1 : 0
    }
    let totalShown = shown.values.reduce(0, +), totalClicked = clicked.values.reduce(0, +)
    let p = totalClicked / totalShown
    var weightedSpread = 0.0
    for (item, n) in shown { weightedSpread += n * pow(clicked[item, default: 0] / n - p, 2) }
    let n = Double(shown.count)
    let spread = (weightedSpread / totalShown - n * p * (1 - p) / totalShown) / (1 - n / totalShown)
    #expect(spread > 0)
    let expected = p * (1 - p) / spread - 1
    let fitted = Double(model.cross.priorStrength)
    #expect(abs(fitted - expected) <= 1e-4 * expected, "fitted \(fitted), expected \(expected)")
    #expect(model.cross.priorStrength != CrossFeatureStore.initialPriorStrength)
    // The click prior of an item smooths its lifetime counts with the fitted strength.
    let item = try #require(shown.max { $0.value < $1.value }?.key)
    let i = try #require(model.catalog.index(of: item))
    let p0 = Double(model.cross.priorCTR)
    let rate = (Double(model.catalog.lifetimeClicks[Int(i)]) + fitted * p0) / (Double(model.catalog.lifetimeImpressions[Int(i)]) + fitted)
    #expect(abs(Double(model.cross.priorLogit(item: Int(i), catalog: model.catalog)) - log(rate / (1 - rate))) < 1e-4)
}

/// A model folder written before the smoothing was fitted used 20 pseudo-impressions: it loads
/// with 20 and scores as it did; the key decides.
@Test func aModelFolderFromBeforeTheFittedSmoothingLoadsWithTwenty() throws {
    var config = smallConfig()
    config.clickPriorStrength = 20
    let (model, events) = try modelTrainedOnSmallStream(config, impressions: 1_000)
    let folder = try TemporaryDirectory(prefix: "hsnn-model")
    try model.write(to: folder.url)
    try rewriteModelHeader(in: folder.url) { #expect($0.removeValue(forKey: "crossPriorStrength") != nil) }
    try rewriteModelConfiguration(in: folder.url) { #expect($0.removeValue(forKey: "clickPriorStrength") != nil) }
    let loaded = try RetrievalModel.load(from: folder.url)
    #expect(loaded.config == config)
    #expect(loaded.cross.priorStrength == 20)
    let probes = Array(impressions(in: events).suffix(20))
    #expect(loaded.score(probes) == model.score(probes))
    // The key decides, over the smoothing the state recorded.
    try model.write(to: folder.url)
    try rewriteModelConfiguration(in: folder.url) { $0["clickPriorStrength"] = 5.0 }
    let configured = try RetrievalModel.load(from: folder.url)
    #expect(configured.cross.priorStrength == 5)
    #expect(configured.score(probes) != model.score(probes))
}
