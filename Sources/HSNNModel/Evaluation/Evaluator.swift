import Foundation
import HSNNEvents
import HSNNSupport

/// Offline evaluation with the product protocol.
///
/// - A user's truth is the set of items they clicked in the test period that they had no
///   impression of in the training period.
/// - Retrieved items the user saw in training are removed before cutting at K.
/// - NE = mean test log loss / log loss of always predicting the training click rate.
/// - Test-period catalog events are applied (new items are indexed at once); deletes are held
///   back until after ranking, so an item clicked in the test period and expired later is still
///   a candidate. Test impressions are never trained on. Ranking uses the online state at the
///   end of training; NE is progressive: each chunk of test impressions is scored first, then
///   its outcomes update the cross-feature counters (as in the running daemon), never the weights.
public final class Evaluator {
    /// Items each user had an impression of in training.
    private var seen: [String: Set<String>] = [:]
    /// Training clicks per item (the popularity baseline).
    private var trainClicks: [String: Int] = [:]
    private var trainImpressions = 0
    private var trainPositives = 0
    private var testImpressions: [ImpressionEvent] = []
    private var testLabels: [Bool] = []
    private var testClicks = Set<String>()
    private var truth: [String: Set<String>] = [:]
    private var queryFeatures: [String: Features] = [:]
    private var heldBackDeletes: [ItemEvent] = []
    private var testCatalog: [ItemEvent] = []

    public init() {}

    /// Records a training-period event (impressions need `clicked`).
    public func observeTrain(_ event: Event) {
        guard case .impression(let imp) = event else { return }
        seen[imp.userID, default: []].insert(imp.itemID)
        trainImpressions += 1
        if imp.clicked == true {
            trainPositives += 1
            trainClicks[imp.itemID, default: 0] += 1
        }
        queryFeatures[imp.userID] = imp.userFeatures
    }

    /// Records a test-period event. Unlabelled impressions are positives when a click with the
    /// same request and item appears in the test file.
    public func observeTest(_ event: Event) {
        switch event {
        case .item(let item):
            testCatalog.append(item)
        case .impression(let imp):
            testImpressions.append(imp)
            testLabels.append(imp.clicked ?? false)
        case .click(let click):
            testClicks.insert(click.requestID + "\u{1}" + click.itemID)
        }
    }

    /// Options of ``evaluate(_:options:)``.
    public struct Options: Sendable {
        public var ks: [Int] = [10, 50, 100]
        /// Also run exhaustive retrieval (recall of the full model, beam-vs-exhaustive ratio).
        public var exhaustive = true
        /// Beam widths to sweep (each entry: one width per index level).
        public var beamSweep: [[Int]] = []
        /// Evaluate at most this many users (the first by id), 0 = all.
        public var maxUsers = 0
        /// Update the cross-feature counters with each test chunk after scoring it (NE only; ranking
        /// uses the state at the end of training).
        public var progressiveCrossFeatures = true
        public var progressiveChunk = 256
        /// Receives every ranking computed (user, mode, beam widths or nil for exhaustive, ranked
        /// item ids after the seen-item filter, the user's truth set).
        public var rankingObserver: (@Sendable (RankingRecord) -> Void)?
        public init() {}
    }

    /// Applies the test catalog events to `model` and computes the report.
    public func evaluate(_ model: RetrievalModel, options: Options = Options()) -> EvaluationReport {
        // Labels from separate click events, then the truth sets.
        for (j, imp) in testImpressions.enumerated() where !testLabels[j] {
            if testClicks.contains(imp.requestID + "\u{1}" + imp.itemID) { testLabels[j] = true }
        }
        for (j, imp) in testImpressions.enumerated() {
            if queryFeatures[imp.userID] == nil || truth[imp.userID] == nil { queryFeatures[imp.userID] = imp.userFeatures }
            // Users need training history (cold-start users are not part of the protocol).
            if testLabels[j], let s = seen[imp.userID], !s.contains(imp.itemID) {
                truth[imp.userID, default: []].insert(imp.itemID)
            }
        }
        var report = EvaluationReport()
        let trainCTR = trainImpressions == 0 ? 0.5 : max(min(Double(trainPositives) / Double(trainImpressions), 1 - 1e-6), 1e-6)
        report.trainCTR = trainCTR
        report.testImpressions = testImpressions.count
        // New items of the test period are indexed before ranking; deletes wait until the end.
        for event in testCatalog { applyHoldingDeletes(event, model) }
        // Retrieval.
        var users = truth.keys.sorted()
        if options.maxUsers > 0 { users = Array(users.prefix(options.maxUsers)) }
        report.users = users.count
        report.liveItems = model.liveItemCount
        let kMax = options.ks.max() ?? 100
        func recall(_ ranked: [String], _ user: String) -> [Int: Double] {
            let t = truth[user]!
            var out: [Int: Double] = [:]
            for k in options.ks {
                let hits = ranked.prefix(k).reduce(0) { $0 + (t.contains($1) ? 1 : 0) }
                out[k] = Double(hits) / Double(t.count)
            }
            return out
        }
        var reference: [String: Set<String>] = [:]
        var oracleShare = 0.0
        var beamNeeded: [Int] = []
        func run(_ mode: RetrievalMode, keep: Bool = false)
            -> (recall: [Int: Double], itemsScored: Double, nodesScored: Double, seconds: Double, overlap: Double) {
            var sum: [Int: Double] = [:]
            var scored = 0.0, nodes = 0.0, overlap = 0.0
            var seconds = 0.0
            for u in users {
                let clock = ContinuousClock.now
                let r = model.retrieve(UserQuery(userID: u, userFeatures: queryFeatures[u] ?? Features()), k: kMax, mode: mode,
                                       excluding: seen[u] ?? [])
                let elapsed = clock.duration(to: .now)
                seconds += elapsed.inSeconds
                let ids = r.items.map(\.itemID)
                if let observer = options.rankingObserver {
                    let widths: [Int]?
                    switch mode { case .exhaustive: widths = nil; case .beam(let w): widths = w ?? model.config.beam }
                    observer(RankingRecord(userID: u, beam: widths, items: ids, truth: truth[u]!.sorted(), itemsScored: r.itemsScored))
                }
                for (k, v) in recall(ids, u) { sum[k, default: 0] += v }
                scored += Double(r.itemsScored)
                nodes += Double(r.nodesScored)
                if keep {
                    reference[u] = Set(ids)
                    oracleShare += Double(model.leafCoverCost(of: r.items.map(\.itemID), share: 0.95))
                    // Level-1 beam this user needs to keep 95% of the exhaustive top-K.
                    let ranks = r.firstLevelRanks.sorted()
                    if !ranks.isEmpty { beamNeeded.append(ranks[min(ranks.count - 1, Int((0.95 * Double(ranks.count)).rounded(.up)) - 1)] + 1) }
                }
                if let ref = reference[u], !ref.isEmpty { overlap += Double(ids.reduce(0) { $0 + (ref.contains($1) ? 1 : 0) }) / Double(ref.count) }
            }
            let n = Double(max(users.count, 1))
            return (sum.mapValues { $0 / n }, scored / n, nodes / n, seconds, overlap / n)
        }
        let isIndexed = model.config.kind == .hsnn
        // Exhaustive first (when asked): its top-K is the reference of the beam's overlap.
        let ex = isIndexed && options.exhaustive ? run(.exhaustive, keep: true) : nil
        let main = run(isIndexed ? .beam(widths: nil) : .exhaustive)
        report.beamOverlapWithExhaustive = ex == nil ? 0 : main.overlap
        report.recall = Dictionary(uniqueKeysWithValues: main.recall.map { ("recall@\($0.key)", $0.value) })
        report.itemsScoredPerUser = main.itemsScored
        report.nodesScoredPerUser = main.nodesScored
        report.retrievalSecondsPerUser = main.seconds / Double(max(users.count, 1))
        if let ex {
            report.exhaustiveSecondsPerUser = ex.seconds / Double(max(users.count, 1))
            report.exhaustiveRecall = Dictionary(uniqueKeysWithValues: ex.recall.map { ("recall@\($0.key)", $0.value) })
            report.exhaustiveItemsScoredPerUser = ex.itemsScored
            beamNeeded.sort()
            if !beamNeeded.isEmpty {
                report.firstBeamFor95PercentOverlap = [0.5, 0.9].map { beamNeeded[min(beamNeeded.count - 1, Int($0 * Double(beamNeeded.count)))] }
            }
            report.oracleLeafItemsShare = oracleShare / Double(max(users.count, 1)) / Double(max(model.liveItemCount, 1))
            if let b = main.recall[kMax], let e = ex.recall[kMax], e > 0 { report.beamOverExhaustiveRecall = b / e }
            for widths in options.beamSweep {
                let s = run(.beam(widths: widths))
                report.beamSweep.append(BeamSweepPoint(
                    beam: widths, recall: s.recall[kMax] ?? 0, itemsScoredPerUser: s.itemsScored,
                    itemsScoredShare: s.itemsScored / Double(max(model.liveItemCount, 1)),
                    recallOverExhaustive: (ex.recall[kMax] ?? 0) > 0 ? (s.recall[kMax] ?? 0) / ex.recall[kMax]! : 0,
                    overlapWithExhaustive: s.overlap,
                    secondsPerUser: s.seconds / Double(max(users.count, 1))))
            }
        }
        report.itemsScoredShare = main.itemsScored / Double(max(model.liveItemCount, 1))
        // Popularity baseline over the same candidates (live items, training clicks).
        let live = model.liveItemIDs()
        let ranked = live.sorted { (trainClicks[$0] ?? 0, $1) > (trainClicks[$1] ?? 0, $0) }
        var popSum: [Int: Double] = [:]
        for u in users {
            let s = seen[u] ?? []
            var list: [String] = []
            for id in ranked where !s.contains(id) { list.append(id); if list.count == kMax { break } }
            for (k, v) in recall(list, u) { popSum[k, default: 0] += v }
        }
        report.popularityRecall = Dictionary(uniqueKeysWithValues: popSum.map { ("recall@\($0.key)", $0.value / Double(max(users.count, 1))) })
        // NE, progressive: each chunk of test impressions is scored, then its outcomes update the
        // online cross-feature counters (never the weights), as the daemon's counters would.
        var logLoss = 0.0, baseLoss = 0.0
        var start = 0
        while start < testImpressions.count {
            let end = min(start + options.progressiveChunk, testImpressions.count)
            let chunk = Array(testImpressions[start..<end])
            let p = model.score(chunk)
            for j in start..<end {
                let y = testLabels[j]
                let q = Double(min(max(p[j - start], 1e-7), 1 - 1e-7))
                logLoss -= y ? log(q) : log(1 - q)
                baseLoss -= y ? log(trainCTR) : log(1 - trainCTR)
            }
            if options.progressiveCrossFeatures {
                model.recordOutcomes(zip(chunk, testLabels[start..<end]).map { LabeledExample(impression: $0, clicked: $1) })
            }
            start = end
        }
        if !testImpressions.isEmpty {
            report.testLogLoss = logLoss / Double(testImpressions.count)
            report.ne = logLoss / max(baseLoss, 1e-12)
        }
        for d in heldBackDeletes { model.apply(d) }
        heldBackDeletes = []
        return report
    }

    private func applyHoldingDeletes(_ event: ItemEvent, _ model: RetrievalModel) {
        if event.op == .delete { heldBackDeletes.append(event) } else { model.apply(event) }
    }
}
