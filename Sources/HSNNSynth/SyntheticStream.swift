import HSNNEvents

/// A deterministic, time-ordered synthetic event stream for training and evaluating a recommender.
///
/// The stream holds the item catalog (upserts at birth, deletes at expiry), impressions served
/// in sessions by a mixed serving policy (popular, interest-matching, random live items), and
/// their labels: `clicked` on each impression, or separate click events a few seconds later
/// when ``SynthConfig/emitClickEvents`` is set.
///
/// The click probability is deliberately not a user-vector x item-vector dot product. Its
/// logit sums
/// - a per-user propensity;
/// - user-specific affinities to 2-3 genres and 3 creators, unrelated to the user's features,
///   which shift at random moments (drift);
/// - a disliked-category penalty per user;
/// - a segment x category x price-tier effect: each segment strongly likes a few categories at
///   one price tier and dislikes them at the others, so no pair of the three explains it;
/// - a country x category effect, item popularity (log-normal prior), a freshness bonus for new
///   items and a slow periodic trend per category;
/// - fatigue: each exposure of the same item among the user's 16 most recent impressions
///   lowers the logit, decaying with time;
/// and an intercept calibrated so the overall click rate is ``SynthConfig/targetCTR``.
///
/// Iteration is lazy and memory is O(users + items): events are produced one at a time.
/// The same configuration (including ``SynthConfig/seed``) gives the same events on every run.
///
/// Wire formats: user and item ids are decimal numbers as strings (`"17"`), event ids
/// `e<n>` for the n-th impression and `c<n>` for its click, request ids `r<session>`.
/// User features: `age`, `gender`, `country`, `segment`. Item features: `category`, `genre`
/// (list of 1-3), `creator`, `price_tier`, `price` (number).
public struct SyntheticStream: Sequence, Sendable {
    public typealias Element = Event

    /// The configuration the stream was built from.
    public let config: SynthConfig
    /// The calibrated logit intercept of the click model.
    public let intercept: Double
    let world: SyntheticWorld

    /// Builds the catalog, the users and the click model, and calibrates the click rate.
    ///
    /// Calibration replays the whole impression process once without building events (between
    /// half and all of the time of iterating the stream), so the click rate is on target over the
    /// whole stream even when it shifts with time (fatigue builds up, the catalog turns over).
    /// - Throws: ``SynthConfigError`` when a configuration field is out of range.
    public init(config: SynthConfig) throws(SynthConfigError) {
        try config.validate()
        self.config = config
        world = SyntheticWorld(config: config)
        intercept = Self.calibrateIntercept(world: world)
    }

    public func makeIterator() -> Iterator { Iterator(stream: self) }

    /// The events in order, each tagged train or test: train holds everything before the first
    /// session that starts at or after impression `trainFraction * numImpressions`, test the rest.
    ///
    /// Sessions are never cut in two, catalog events fall where their time puts them, and a click
    /// event goes with its impression's part (so a train click may follow the first test event).
    public func split(trainFraction: Double) -> SplitSyntheticStream {
        SplitSyntheticStream(stream: self, trainFraction: trainFraction)
    }

    // MARK: Ground truth and catalog access

    /// Number of users; user `n` has id `String(n)`.
    public var userCount: Int { config.numUsers }
    /// Number of items over the whole stream; item `n` (the n-th born) has id `String(n)`.
    public var itemCount: Int { config.numItems }
    /// Timestamp just after the last impression (start + duration).
    public var endMs: Int64 { world.endMs }

    /// Every user with the features they have at the end of the stream (features are static),
    /// in id order: the queries of a retrieval test.
    public func users() -> [UserQuery] {
        (0..<config.numUsers).map { UserQuery(userID: String($0), userFeatures: world.userFeatures[$0]) }
    }

    /// The features of user `index` (`0 ..< userCount`).
    public func userFeatures(index: Int) -> Features { world.userFeatures[index] }

    /// The catalog features of item `index` (`0 ..< itemCount`), as its upsert carries them.
    public func itemFeatures(index: Int) -> Features { world.itemFeatures(index) }

    /// Birth (upsert) and expiry (delete) time of item `index`; `expiryMs` is nil when the item
    /// outlives the stream.
    public func itemLifetime(index: Int) -> (birthMs: Int64, expiryMs: Int64?) {
        let expiry = world.itemExpiryMs[index]
        return (world.itemBirthMs[index], expiry <= world.endMs ? expiry : nil)
    }

    /// Whether item `index` is live (upserted, not yet deleted) at `timestampMs`.
    public func isAlive(itemIndex: Int, at timestampMs: Int64) -> Bool {
        world.isAlive(item: itemIndex, at: timestampMs)
    }

    /// The user's favourite genres (feature values such as `"g07"`) at `timestampMs`.
    public func favouriteGenres(userIndex: Int, at timestampMs: Int64) -> [String] {
        let e = world.epoch(user: userIndex, at: timestampMs)
        return (0..<SyntheticWorld.genreSlots).compactMap { k in
            let g = world.epochGenres[e * SyntheticWorld.genreSlots + k]
            return g == SyntheticWorld.noGenre ? nil : SyntheticWorld.genreName(Int(g))
        }
    }

    /// The true probability that user `userIndex` clicks item `itemIndex` shown at `timestampMs`.
    ///
    /// `exposureLoad` is the fatigue state: the sum, over the user's 16 most recent impressions
    /// that showed the same item, of `exp(-age / fatigueDecayMs)`; 0 (the default) is a fresh exposure.
    public func trueClickProbability(userIndex: Int, itemIndex: Int, at timestampMs: Int64,
                                     exposureLoad: Double = 0) -> Double {
        let logit = world.baseLogit(user: userIndex, item: itemIndex, at: timestampMs)
            - config.effects.fatigue * exposureLoad
        return sigmoid(logit + intercept)
    }

    /// The true click probability for wire ids (see ``trueClickProbability(userIndex:itemIndex:at:exposureLoad:)``);
    /// nil when an id is not one of this stream's.
    public func trueClickProbability(user: String, item: String, at timestampMs: Int64,
                                     exposureLoad: Double = 0) -> Double? {
        guard let u = Int(user), u >= 0, u < config.numUsers,
              let i = Int(item), i >= 0, i < config.numItems else { return nil }
        return trueClickProbability(userIndex: u, itemIndex: i, at: timestampMs, exposureLoad: exposureLoad)
    }

    /// The `k` items live at `timestampMs` with the highest true click probability for the user
    /// (first exposure), best first: the ideal retrieval. O(items).
    public func bestItems(userIndex: Int, k: Int, at timestampMs: Int64) -> [(itemIndex: Int, probability: Double)] {
        var best: [(itemIndex: Int, probability: Double)] = []
        best.reserveCapacity(k + 1)
        for i in 0..<config.numItems where world.isAlive(item: i, at: timestampMs) {
            let p = trueClickProbability(userIndex: userIndex, itemIndex: i, at: timestampMs)
            if best.count == k, let worst = best.last, worst.probability >= p { continue }
            var position = best.count
            while position > 0 && best[position - 1].probability < p { position -= 1 }
            best.insert((i, p), at: position)
            if best.count > k { best.removeLast() }
        }
        return best
    }

    // MARK: Calibration

    /// Finds the intercept whose mean click probability over the replayed impressions is the target.
    ///
    /// Impression choice does not depend on labels, so the replay sees exactly the impressions
    /// the stream will emit; logits are kept in a fixed-width histogram (O(1) memory).
    private static func calibrateIntercept(world: SyntheticWorld) -> Double {
        let binWidth = 0.02, lowest = -40.0
        var histogram = [Int](repeating: 0, count: 4_000)
        let simulation = Simulation(world: world, intercept: 0, replayOnly: true)
        var seen = 0
        while let emission = simulation.next() {
            guard case .impression(let impression) = emission else { continue }
            let bin = Int(((impression.logitWithoutIntercept - lowest) / binWidth).rounded(.down))
            histogram[Swift.min(histogram.count - 1, Swift.max(0, bin))] += 1
            seen += 1
        }
        guard seen > 0 else { return _log(world.config.targetCTR / (1 - world.config.targetCTR)) }
        func meanProbability(_ b: Double) -> Double {
            var sum = 0.0
            for (k, count) in histogram.enumerated() where count > 0 {
                sum += Double(count) * sigmoid(lowest + (Double(k) + 0.5) * binWidth + b)
            }
            return sum / Double(seen)
        }
        var low = -60.0, high = 60.0
        for _ in 0..<100 {
            let mid = (low + high) / 2
            if meanProbability(mid) < world.config.targetCTR { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }
}

extension SyntheticStream {
    /// Produces the stream's events one at a time, in time order.
    public struct Iterator: IteratorProtocol {
        private let simulation: Simulation
        private let world: SyntheticWorld
        /// Whether impressions carry `clicked` (false when click events are emitted instead).
        private let labelled: Bool

        /// True click probability of the last impression returned (nil before the first).
        public private(set) var lastClickProbability: Double?
        /// Whether the last impression returned was clicked (also when it carries no label).
        public private(set) var lastClicked: Bool?
        /// Session number of the last impression or click returned (nil for catalog events).
        public private(set) var lastSession: Int?
        /// Impression number of the last impression or click returned (nil for catalog events).
        public private(set) var lastImpressionOrdinal: Int?

        init(stream: SyntheticStream) {
            world = stream.world
            simulation = Simulation(world: stream.world, intercept: stream.intercept)
            labelled = !stream.config.emitClickEvents
        }

        /// Number of items live after the last event.
        public var liveItemCount: Int { simulation.liveCount }

        public mutating func next() -> Event? {
            guard let emission = simulation.next() else { return nil }
            switch emission {
            case .upsert(let item, let ts):
                lastSession = nil
                lastImpressionOrdinal = nil
                return .item(ItemEvent(op: .upsert, itemID: String(item), timestampMs: ts,
                                       features: world.itemFeatures(item)))
            case .delete(let item, let ts):
                lastSession = nil
                lastImpressionOrdinal = nil
                return .item(ItemEvent(op: .delete, itemID: String(item), timestampMs: ts))
            case .impression(let impression):
                lastClickProbability = impression.probability
                lastClicked = impression.clicked
                lastSession = impression.session
                lastImpressionOrdinal = impression.ordinal
                return .impression(ImpressionEvent(
                    eventID: "e" + String(impression.ordinal),
                    requestID: "r" + String(impression.session),
                    timestampMs: impression.timestampMs,
                    userID: String(impression.user),
                    itemID: String(impression.item),
                    userFeatures: world.userFeatures[impression.user],
                    clicked: labelled ? impression.clicked : nil))
            case .click(let click):
                lastSession = click.session
                lastImpressionOrdinal = click.impressionOrdinal
                return .click(ClickEvent(
                    eventID: "c" + String(click.impressionOrdinal),
                    requestID: "r" + String(click.session),
                    timestampMs: click.timestampMs,
                    userID: String(click.user),
                    itemID: String(click.item)))
            }
        }
    }
}

/// Which side of a train/test split an event falls on.
public enum StreamPart: Sendable, Hashable {
    case train
    case test
}

/// A ``SyntheticStream`` whose events are tagged train or test (see ``SyntheticStream/split(trainFraction:)``).
public struct SplitSyntheticStream: Sequence, Sendable {
    public typealias Element = (part: StreamPart, event: Event)

    public let stream: SyntheticStream
    /// The first impression number that may open the test part.
    public let cutImpression: Int

    init(stream: SyntheticStream, trainFraction: Double) {
        self.stream = stream
        let fraction = Swift.min(1, Swift.max(0, trainFraction))
        cutImpression = fraction >= 1 ? .max : Int((Double(stream.config.numImpressions) * fraction).rounded(.down))
    }

    public func makeIterator() -> Iterator { Iterator(base: stream.makeIterator(), cutImpression: cutImpression) }

    public struct Iterator: IteratorProtocol {
        /// The underlying stream iterator (its ground-truth properties describe the last event).
        public private(set) var base: SyntheticStream.Iterator
        private let cutImpression: Int
        /// The first test session, once the cut has been reached.
        public private(set) var firstTestSession: Int?
        private var lastImpressionSession: Int?

        init(base: SyntheticStream.Iterator, cutImpression: Int) {
            self.base = base
            self.cutImpression = cutImpression
        }

        public mutating func next() -> (part: StreamPart, event: Event)? {
            guard let event = base.next() else { return nil }
            switch event {
            case .item:
                return (firstTestSession == nil ? .train : .test, event)
            case .impression:
                let session = base.lastSession
                if firstTestSession == nil, let ordinal = base.lastImpressionOrdinal, ordinal >= cutImpression,
                   let session, session != lastImpressionSession {
                    firstTestSession = session
                }
                lastImpressionSession = session
                return (part(ofSession: session), event)
            case .click:
                return (part(ofSession: base.lastSession), event)
            }
        }

        private func part(ofSession session: Int?) -> StreamPart {
            guard let first = firstTestSession, let session else { return .train }
            return session >= first ? .test : .train
        }
    }
}
