import HSNNEvents
import HSNNSynth
import Testing

@Suite struct StreamInvariantTests {
    @Test func sameSeedGivesTheSameStreamAndOtherSeedsDiffer() throws {
        let a = try SyntheticStream(config: smallConfig(seed: 11, impressions: 20_000))
        let b = try SyntheticStream(config: smallConfig(seed: 11, impressions: 20_000))
        let c = try SyntheticStream(config: smallConfig(seed: 12, impressions: 20_000))
        let hashA = streamHash(a, count: 25_000)
        #expect(hashA == streamHash(b, count: 25_000))
        #expect(hashA != streamHash(c, count: 25_000))
        // Two iterators over one stream value replay the same events.
        #expect(hashA == streamHash(a, count: 25_000))
        #expect(a.intercept == b.intercept)
    }

    @Test func eventsAreInTimeOrderAndImpressionsShowLiveItems() throws {
        let config = smallConfig(seed: 3, impressions: 60_000)
        let stream = try SyntheticStream(config: config)
        var live = Set<String>()
        var everUpserted = Set<String>()
        var deleted = Set<String>()
        var lastTs = Int64.min, lastImpressionTs = Int64.min
        var impressions = 0, upserts = 0, deletes = 0
        var eventIDs = Set<String>()
        var requestUser: [String: String] = [:]
        for event in stream {
            #expect(event.timestampMs >= lastTs, "time order broken at \(canonical(event))")
            lastTs = event.timestampMs
            switch event {
            case .item(let item):
                if item.op == .upsert {
                    #expect(!everUpserted.contains(item.itemID), "item \(item.itemID) upserted twice")
                    everUpserted.insert(item.itemID)
                    live.insert(item.itemID)
                    upserts += 1
                } else {
                    #expect(live.contains(item.itemID), "delete of item \(item.itemID) before its upsert")
                    live.remove(item.itemID)
                    deleted.insert(item.itemID)
                    deletes += 1
                }
            case .impression(let impression):
                impressions += 1
                #expect(live.contains(impression.itemID), "impression \(impression.eventID) shows a dead item")
                #expect(stream.isAlive(itemIndex: Int(impression.itemID)!, at: impression.timestampMs))
                #expect(impression.clicked != nil)
                #expect(impression.timestampMs > lastImpressionTs)
                lastImpressionTs = impression.timestampMs
                #expect(eventIDs.insert(impression.eventID).inserted)
                #expect(impression.userFeatures == stream.userFeatures(index: Int(impression.userID)!))
                let owner = requestUser[impression.requestID, default: impression.userID]
                #expect(owner == impression.userID, "request \(impression.requestID) spans two users")
                requestUser[impression.requestID] = impression.userID
            case .click:
                Issue.record("labelled stream emitted a click event")
            }
        }
        #expect(impressions == config.numImpressions)
        #expect(upserts == config.numItems)
        // Items are born and expired over the stream; some never expire.
        #expect(deletes > config.numItems / 4)
        #expect(live.count > 0)
        #expect(lastTs <= stream.endMs)
        // Sessions hold several impressions.
        let meanSession = Double(impressions) / Double(requestUser.count)
        #expect(meanSession > 0.6 * config.meanSessionLength && meanSession < 1.4 * config.meanSessionLength)
    }

    @Test func clickEventsFollowTheirImpressions() throws {
        var config = smallConfig(seed: 5, impressions: 30_000)
        config.emitClickEvents = true
        let stream = try SyntheticStream(config: config)
        var clickedImpressions: [String: Int64] = [:]  // "request|item" -> impression time
        var expectedClicks = 0, clicks = 0
        var iterator = stream.makeIterator()
        var lastTs = Int64.min
        while let event = iterator.next() {
            #expect(event.timestampMs >= lastTs)
            lastTs = event.timestampMs
            switch event {
            case .impression(let impression):
                #expect(impression.clicked == nil)
                if iterator.lastClicked == true {
                    expectedClicks += 1
                    clickedImpressions[impression.requestID + "|" + impression.itemID] = impression.timestampMs
                }
            case .click(let click):
                clicks += 1
                let key = click.requestID + "|" + click.itemID
                guard let shown = clickedImpressions.removeValue(forKey: key) else {
                    Issue.record("click \(click.eventID) has no earlier clicked impression")
                    continue
                }
                #expect(click.timestampMs >= shown + 500)
                #expect(click.timestampMs < shown + 600_000)
            case .item:
                break
            }
        }
        #expect(clicks == expectedClicks)
        #expect(clickedImpressions.isEmpty)
        #expect(clicks > 0)
    }

    @Test func clickRateMatchesTheConfiguredTarget() throws {
        for target in [0.03, 0.10] {
            var config = smallConfig(seed: 9, impressions: 80_000)
            config.targetCTR = target
            let stream = try SyntheticStream(config: config)
            let all = impressions(of: stream)
            let ctr = Double(all.filter(\.clicked).count) / Double(all.count)
            let meanProbability = all.reduce(0) { $0 + $1.probability } / Double(all.count)
            // Calibration replays the whole stream: the expected rate is on target...
            #expect(abs(meanProbability - target) < 0.02 * target)
            // ...and the realised rate is within sampling noise of it (5 standard errors).
            let standardError = (target * (1 - target) / Double(all.count)).squareRoot()
            #expect(abs(ctr - meanProbability) < 5 * standardError, "ctr \(ctr), expected \(meanProbability)")
        }
    }

    @Test func reportedProbabilityIsTheGroundTruthAndRepeatsAreFatigued() throws {
        let stream = try SyntheticStream(config: smallConfig(seed: 4, impressions: 60_000))
        // Fatigue counts the user's 16 most recent impressions: mirror them.
        var recent = [[Int]](repeating: [], count: stream.userCount)
        var repeats = 0, repeatClicks = 0
        var repeatFreshProbability = 0.0
        for impression in impressions(of: stream) {
            let fresh = stream.trueClickProbability(userIndex: impression.user, itemIndex: impression.item,
                                                    at: impression.timestampMs)
            let isRepeat = recent[impression.user].contains(impression.item)
            recent[impression.user].append(impression.item)
            if recent[impression.user].count > 16 { recent[impression.user].removeFirst() }
            if !isRepeat {
                #expect(impression.probability == fresh)
            } else {
                #expect(impression.probability < fresh)
                repeats += 1
                repeatFreshProbability += fresh
                if impression.clicked { repeatClicks += 1 }
            }
        }
        // Enough repeats to matter, and their realised click rate is well below the fresh-exposure rate.
        #expect(repeats > 1_000)
        let standardError = (repeatFreshProbability / Double(repeats) / Double(repeats)).squareRoot()
        #expect(Double(repeatClicks) / Double(repeats) < repeatFreshProbability / Double(repeats) - 5 * standardError)
        #expect(stream.trueClickProbability(user: "0", item: "0", at: stream.config.startMs) != nil)
        #expect(stream.trueClickProbability(user: "0", item: "x", at: stream.config.startMs) == nil)
    }

    @Test func splitKeepsSessionsWholeAndPutsTheCutNearTheFraction() throws {
        var config = smallConfig(seed: 6, impressions: 40_000)
        config.emitClickEvents = true
        let stream = try SyntheticStream(config: config)
        var trainImpressions = 0, testImpressions = 0
        var requestPart: [String: StreamPart] = [:]
        var impressionPart: [String: StreamPart] = [:]  // "request|item"
        var sawTest = false
        var lastTrainImpressionTs = Int64.min, firstTestImpressionTs = Int64.max
        for (part, event) in stream.split(trainFraction: 0.8) {
            switch event {
            case .item:
                if sawTest { #expect(part == .test) }
            case .impression(let impression):
                if part == .train {
                    #expect(!sawTest, "train impression after the cut")
                    trainImpressions += 1
                    lastTrainImpressionTs = impression.timestampMs
                } else {
                    sawTest = true
                    testImpressions += 1
                    firstTestImpressionTs = min(firstTestImpressionTs, impression.timestampMs)
                }
                #expect(requestPart[impression.requestID, default: part] == part, "session cut in two")
                requestPart[impression.requestID] = part
                impressionPart[impression.requestID + "|" + impression.itemID] = part
            case .click(let click):
                #expect(impressionPart[click.requestID + "|" + click.itemID] == part)
            }
        }
        #expect(lastTrainImpressionTs < firstTestImpressionTs)
        let share = Double(trainImpressions) / Double(trainImpressions + testImpressions)
        #expect(share >= 0.8 && share < 0.81)
    }

    @Test func catalogScalesToOneHundredThousandItems() throws {
        var config = smallConfig(seed: 8, impressions: 20_000)
        config.numItems = 100_000
        config.numCreators = 2_000
        let stream = try SyntheticStream(config: config)
        var live = Set<String>()
        var impressions = 0
        for event in stream {
            switch event {
            case .item(let item):
                if item.op == .upsert { live.insert(item.itemID) } else { live.remove(item.itemID) }
            case .impression(let impression):
                impressions += 1
                #expect(live.contains(impression.itemID))
            case .click:
                break
            }
        }
        #expect(impressions == 20_000)
        let best = stream.bestItems(userIndex: 0, k: 10, at: stream.endMs - 1)
        #expect(best.count == 10)
        #expect(zip(best, best.dropFirst()).allSatisfy { $0.probability >= $1.probability })
        #expect(best.allSatisfy { stream.isAlive(itemIndex: $0.itemIndex, at: stream.endMs - 1) })
    }

    @Test func invalidConfigurationIsRejectedWithTheField() {
        var config = SynthConfig()
        config.targetCTR = 0.9
        #expect(throws: SynthConfigError.self) { try SyntheticStream(config: config) }
        do {
            _ = try SyntheticStream(config: config)
        } catch {
            #expect(error.field == "targetCTR")
            #expect(error.description.contains("0.001 ... 0.5"))
        }
    }

    @Test func usersListEveryUserWithFeatures() throws {
        let stream = try SyntheticStream(config: smallConfig(impressions: 10))
        let users = stream.users()
        #expect(users.count == 400)
        #expect(users[17].userID == "17")
        for name in ["age", "gender", "country", "segment"] {
            #expect(users[17].userFeatures[name] != nil)
        }
    }
}
