import HSNNEvents
import HeapModule

/// Settings of the impression/click joiner.
public struct JoinerConfiguration: Sendable, Hashable, Codable {
    /// What to do with the oldest pending impression when ``maxPending`` is reached.
    public enum OverflowPolicy: String, Sendable, Hashable, Codable, CaseIterable {
        /// Label the oldest pending impression negative now (it is trained on; counted as `overflow`).
        case emitNegative = "negative"
        /// Drop the oldest pending impression untrained (counted as `overflow`).
        case dropOldest = "drop_oldest"
    }

    /// How long, in event time, a click may follow its impression.
    public var attributionWindowMs: Int64
    /// Most unlabelled impressions held at once; beyond it ``overflowPolicy`` applies.
    public var maxPending: Int
    public var overflowPolicy: OverflowPolicy
    /// A partition whose event time falls this far behind the most advanced one no
    /// longer holds the watermark back (a quiet partition does not stall expiry).
    public var maxPartitionLagMs: Int64
    /// Event ids remembered for duplicate detection (the oldest are forgotten first).
    public var dedupeCapacity: Int

    public init(
        attributionWindowMs: Int64 = 600_000, maxPending: Int = 1_000_000,
        overflowPolicy: OverflowPolicy = .emitNegative, maxPartitionLagMs: Int64 = 60_000,
        dedupeCapacity: Int = 2_000_000
    ) {
        self.attributionWindowMs = attributionWindowMs
        self.maxPending = maxPending
        self.overflowPolicy = overflowPolicy
        self.maxPartitionLagMs = maxPartitionLagMs
        self.dedupeCapacity = dedupeCapacity
    }
}

/// Counters of what the joiner has seen and done; all monotonic except ``pendingImpressions`` and ``pendingClicks``.
public struct JoinerCounters: Sendable, Hashable, Codable {
    public var impressions: Int64 = 0
    public var clicks: Int64 = 0
    /// Impressions that arrived with `clicked` set and passed straight through.
    public var prelabeled: Int64 = 0
    /// Unlabelled impressions made positive by a click.
    public var joinedPositive: Int64 = 0
    /// Unlabelled impressions whose attribution window expired without a click.
    public var expiredNegative: Int64 = 0
    /// Impressions or clicks whose `event_id` was already seen (dropped).
    public var duplicates: Int64 = 0
    /// Clicks that matched no impression within the window (never trained as positives).
    public var unmatchedClicks: Int64 = 0
    /// Pending impressions removed early because ``JoinerConfiguration/maxPending`` was reached.
    public var overflow: Int64 = 0
    public var pendingImpressions: Int = 0
    public var pendingClicks: Int = 0

    public init() {}
}

/// Joins impressions with clicks into labelled training examples, in event time.
///
/// - Impressions with `clicked` pass straight through.
/// - Impressions without it wait for a click with the same `(request_id, item_id)`,
///   falling back to `(user_id, item_id)`, within the attribution window; a click makes
///   the example positive, the window's expiry makes it negative.
/// - Clicks that arrive before their impression wait (in event time) for it; clicks
///   that never match are counted, never trained.
/// - Events whose `event_id` was seen before are counted and dropped.
///
/// Event time advances per partition. The watermark is the slowest partition's event
/// time, except that a partition more than ``JoinerConfiguration/maxPartitionLagMs``
/// behind the fastest one stops holding it back. Everything is driven by the events
/// themselves, so the same input sequence always gives the same output sequence.
///
/// Not thread-safe: one owner (the training thread) drives it.
public final class ImpressionClickJoiner {
    public let configuration: JoinerConfiguration
    public private(set) var counters = JoinerCounters()

    private struct RequestKey: Hashable { var requestID: String; var itemID: String }
    private struct UserKey: Hashable { var userID: String; var itemID: String }

    private struct PendingImpression { var impression: ImpressionEvent }
    private struct PendingClick { var click: ClickEvent }

    /// Pending impressions by arrival sequence number; sequence numbers grow, so the
    /// dictionary plus `nextSequence` make FIFO overflow and deterministic order easy.
    private var pending: [Int64: PendingImpression] = [:]
    private var byRequest: [RequestKey: [Int64]] = [:]
    private var byUser: [UserKey: [Int64]] = [:]
    private var expiry = Heap<Deadline>()
    private var nextSequence: Int64 = 0
    private var oldestCandidate: Int64 = 0

    private var pendingClicks: [Int64: PendingClick] = [:]
    private var clicksByRequest: [RequestKey: [Int64]] = [:]
    private var clicksByUser: [UserKey: [Int64]] = [:]
    private var clickExpiry = Heap<Deadline>()

    private var seenIDs = BoundedIDSet(capacity: 1)
    private var partitionTime: [Int32: Int64] = [:]
    /// Current watermark: no event older than this is expected any more.
    public private(set) var watermarkMs: Int64 = .min

    public init(configuration: JoinerConfiguration = JoinerConfiguration()) {
        self.configuration = configuration
        self.seenIDs = BoundedIDSet(capacity: configuration.dedupeCapacity)
    }

    /// Feeds one impression or click read from `partition`, appending the examples it
    /// completes (in a deterministic order) to `output`.
    ///
    /// Item events are not the joiner's business and are ignored.
    public func process(_ event: Event, partition: Int32 = 0, into output: inout [LabeledExample]) {
        switch event {
        case .item:
            return
        case .impression(let impression):
            counters.impressions += 1
            guard seenIDs.insert(impression.eventID) else {
                counters.duplicates += 1
                return
            }
            advance(partition: partition, to: impression.timestampMs, into: &output)
            if let clicked = impression.clicked {
                counters.prelabeled += 1
                output.append(LabeledExample(impression: impression, clicked: clicked))
            } else if takeMatchingClick(for: impression) {
                counters.joinedPositive += 1
                output.append(LabeledExample(impression: impression, clicked: true))
            } else {
                addPending(impression, into: &output)
            }
        case .click(let click):
            counters.clicks += 1
            guard seenIDs.insert(click.eventID) else {
                counters.duplicates += 1
                return
            }
            advance(partition: partition, to: click.timestampMs, into: &output)
            if let impression = takeMatchingImpression(for: click) {
                counters.joinedPositive += 1
                output.append(LabeledExample(impression: impression, clicked: true))
            } else if click.timestampMs + configuration.attributionWindowMs <= watermarkMs {
                counters.unmatchedClicks += 1
            } else {
                addPendingClick(click)
            }
        }
        refreshGauges()
    }

    /// Forgets a partition (revoked on a rebalance) so it no longer holds the watermark.
    public func removePartition(_ partition: Int32, into output: inout [LabeledExample]) {
        partitionTime[partition] = nil
        recomputeWatermark(into: &output)
    }

    /// Labels every pending impression negative now (end of a finite input such as a file).
    public func flush(into output: inout [LabeledExample]) {
        expire(upTo: .max, into: &output)
        refreshGauges()
    }

    // MARK: - Event time

    private func advance(partition: Int32, to timestampMs: Int64, into output: inout [LabeledExample]) {
        let current = partitionTime[partition] ?? .min
        guard timestampMs > current else { return }
        partitionTime[partition] = timestampMs
        recomputeWatermark(into: &output)
    }

    private func recomputeWatermark(into output: inout [LabeledExample]) {
        guard let fastest = partitionTime.values.max(), let slowest = partitionTime.values.min() else { return }
        let candidate = max(slowest, fastest &- configuration.maxPartitionLagMs)
        guard candidate > watermarkMs else { return }
        watermarkMs = candidate
        expire(upTo: watermarkMs, into: &output)
    }

    private func expire(upTo watermark: Int64, into output: inout [LabeledExample]) {
        let window = configuration.attributionWindowMs
        while let top = expiry.min, top.deadline <= watermark &- window {
            expiry.removeMin()
            guard let entry = pending[top.sequence] else { continue }
            removePending(top.sequence)
            counters.expiredNegative += 1
            output.append(LabeledExample(impression: entry.impression, clicked: false))
        }
        while let top = clickExpiry.min, top.deadline <= watermark &- window {
            clickExpiry.removeMin()
            guard pendingClicks[top.sequence] != nil else { continue }
            removePendingClick(top.sequence)
            counters.unmatchedClicks += 1
        }
    }

    // MARK: - Pending impressions

    private func addPending(_ impression: ImpressionEvent, into output: inout [LabeledExample]) {
        if pending.count >= configuration.maxPending {
            evictOldest(into: &output)
        }
        let sequence = nextSequence
        nextSequence += 1
        pending[sequence] = PendingImpression(impression: impression)
        byRequest[RequestKey(requestID: impression.requestID, itemID: impression.itemID), default: []].append(sequence)
        byUser[UserKey(userID: impression.userID, itemID: impression.itemID), default: []].append(sequence)
        expiry.insert(Deadline(deadline: impression.timestampMs, sequence: sequence))
    }

    private func evictOldest(into output: inout [LabeledExample]) {
        while oldestCandidate < nextSequence {
            let sequence = oldestCandidate
            oldestCandidate += 1
            guard let entry = pending[sequence] else { continue }
            removePending(sequence)
            counters.overflow += 1
            if configuration.overflowPolicy == .emitNegative {
                output.append(LabeledExample(impression: entry.impression, clicked: false))
            }
            return
        }
    }

    private func removePending(_ sequence: Int64) {
        guard let entry = pending.removeValue(forKey: sequence) else { return }
        let impression = entry.impression
        let requestKey = RequestKey(requestID: impression.requestID, itemID: impression.itemID)
        let userKey = UserKey(userID: impression.userID, itemID: impression.itemID)
        Self.remove(sequence, from: &byRequest, key: requestKey)
        Self.remove(sequence, from: &byUser, key: userKey)
    }

    private static func remove<K: Hashable>(_ sequence: Int64, from index: inout [K: [Int64]], key: K) {
        guard var list = index[key] else { return }
        list.removeAll { $0 == sequence }
        index[key] = list.isEmpty ? nil : list
    }

    /// The oldest pending impression a click completes, removed from the pending set.
    private func takeMatchingImpression(for click: ClickEvent) -> ImpressionEvent? {
        let requestKey = RequestKey(requestID: click.requestID, itemID: click.itemID)
        let sequence = byRequest[requestKey]?.first
            ?? byUser[UserKey(userID: click.userID, itemID: click.itemID)]?.first
        guard let sequence, let entry = pending[sequence],
              click.timestampMs - entry.impression.timestampMs <= configuration.attributionWindowMs else { return nil }
        removePending(sequence)
        return entry.impression
    }

    // MARK: - Pending clicks (a click read before its impression)

    private func addPendingClick(_ click: ClickEvent) {
        let sequence = nextSequence
        nextSequence += 1
        pendingClicks[sequence] = PendingClick(click: click)
        clicksByRequest[RequestKey(requestID: click.requestID, itemID: click.itemID), default: []].append(sequence)
        clicksByUser[UserKey(userID: click.userID, itemID: click.itemID), default: []].append(sequence)
        clickExpiry.insert(Deadline(deadline: click.timestampMs, sequence: sequence))
    }

    private func removePendingClick(_ sequence: Int64) {
        guard let entry = pendingClicks.removeValue(forKey: sequence) else { return }
        Self.remove(sequence, from: &clicksByRequest, key: RequestKey(requestID: entry.click.requestID, itemID: entry.click.itemID))
        Self.remove(sequence, from: &clicksByUser, key: UserKey(userID: entry.click.userID, itemID: entry.click.itemID))
    }

    /// Whether a waiting click completes `impression` (the click is consumed).
    private func takeMatchingClick(for impression: ImpressionEvent) -> Bool {
        let sequence = clicksByRequest[RequestKey(requestID: impression.requestID, itemID: impression.itemID)]?.first
            ?? clicksByUser[UserKey(userID: impression.userID, itemID: impression.itemID)]?.first
        guard let sequence, let entry = pendingClicks[sequence],
              entry.click.timestampMs - impression.timestampMs <= configuration.attributionWindowMs else { return false }
        removePendingClick(sequence)
        return true
    }

    private func refreshGauges() {
        counters.pendingImpressions = pending.count
        counters.pendingClicks = pendingClicks.count
    }

    // MARK: - State

    /// Everything the joiner holds, for checkpoints: restoring it and feeding the same
    /// events afterwards gives the same examples as an uninterrupted run.
    public struct State: Sendable, Codable, Hashable {
        public var counters: JoinerCounters
        public var watermarkMs: Int64
        public var partitionTime: [Int32: Int64]
        /// Pending impressions in arrival order.
        public var pendingImpressions: [ImpressionEvent]
        /// Clicks waiting for their impression, in arrival order.
        public var pendingClicks: [ClickEvent]
        /// Remembered event ids, oldest first.
        public var seenEventIDs: [String]
    }

    /// A copy of the joiner's state.
    public func state() -> State {
        State(
            counters: counters, watermarkMs: watermarkMs, partitionTime: partitionTime,
            pendingImpressions: pending.keys.sorted().compactMap { pending[$0]?.impression },
            pendingClicks: pendingClicks.keys.sorted().compactMap { pendingClicks[$0]?.click },
            seenEventIDs: seenIDs.orderedIDs()
        )
    }

    /// Rebuilds a joiner from ``state()``.
    public convenience init(configuration: JoinerConfiguration, state: State) {
        self.init(configuration: configuration)
        counters = state.counters
        watermarkMs = state.watermarkMs
        partitionTime = state.partitionTime
        var ignored: [LabeledExample] = []
        for impression in state.pendingImpressions { addPending(impression, into: &ignored) }
        for click in state.pendingClicks { addPendingClick(click) }
        for id in state.seenEventIDs { _ = seenIDs.insert(id) }
        refreshGauges()
    }
}

/// When a pending impression or click expires: ordered by deadline, then by arrival sequence, so
/// ties expire in arrival order.
struct Deadline: Comparable {
    var deadline: Int64
    var sequence: Int64

    static func < (a: Deadline, b: Deadline) -> Bool {
        (a.deadline, a.sequence) < (b.deadline, b.sequence)
    }
}

/// A set of event ids that forgets the oldest once it holds `capacity` of them.
struct BoundedIDSet {
    private var members: Set<String> = []
    private var order: [String] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Inserts `id`; returns false when it was already present.
    mutating func insert(_ id: String) -> Bool {
        guard members.insert(id).inserted else { return false }
        order.append(id)
        if members.count > capacity {
            members.remove(order[head])
            head += 1
            if head > 4096, head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
        }
        return true
    }

    func orderedIDs() -> [String] { Array(order[head...]) }
}
