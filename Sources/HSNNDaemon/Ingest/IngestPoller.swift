import Foundation
import HSNNEvents
import HSNNKafka
import HSNNOps
import HSNNPipeline
import Logging
import Metrics
import Synchronization
import HSNNSupport

/// Polls the Kafka consumer on a dedicated thread (never the Swift cooperative pool),
/// decodes records and hands them to the trainer through the ``IngestQueue``.
///
/// Backpressure: when the queue is full, the poller waits for the trainer to take a chunk,
/// in slices of ``waitSlice``, holding the one record it has; librdkafka keeps prefetching
/// meanwhile up to `queued.max.messages.kbytes`, so memory stays bounded and the trainer
/// finds the next records already fetched. Partitions are paused only when the trainer has
/// taken nothing for `pauseAfter` (`ingest.pause_after_ms`): pausing makes librdkafka drop
/// what it prefetched for those partitions and refetch it on resume, so it is kept for real
/// stalls (a long checkpoint, a stuck learner). Paused, the poller keeps polling (heartbeats
/// and rebalances go on, so `max.poll.interval.ms` is never exceeded because training is
/// slow), holds what it had already polled, and resumes once the queue drains below its
/// low-water mark.
///
/// Rebalance callbacks run inside `poll`, so while the poller waits on a full queue they are
/// delayed, by at most `pauseAfter` plus one slice: a trainer that takes nothing for that long
/// gets its partitions paused and polling resumes.
///
/// Catalog first: while an assigned catalog partition still holds unread records, an events
/// partition whose event time runs more than `catalogLead` (`ingest.max_ahead_of_catalog_ms`)
/// ahead of it is paused until the catalog catches up or reaches its end. Impressions of items
/// whose upsert has not been read yet would otherwise train them without features: librdkafka
/// fetches partitions at their own pace, and a catalog partition that fell behind the events
/// (at start-up, after a restart) cost the model much of its quality.
final class IngestPoller: @unchecked Sendable {
    // @unchecked: `held`, `paused`, `pausedPartitions`, `expected`, `halted`, `assigned`, `atEnd`,
    // the catalog-first bookkeeping (`eventTimeMs`, `aheadOfCatalog`, `catalogBoundMs`, `heldAhead`) and the health
    // bookkeeping are only touched by the polling thread (the loop
    // and the rebalance callbacks that run inside its `poll`).
    private let consumer: KafkaConsumer
    private let queue: IngestQueue<IngestItem>
    private let decoder: KafkaRecordDecoder
    private let status: DaemonStatusBoard
    private let deadLetter: (@Sendable (RejectedRecord) -> Void)?
    private let pollTimeout: Duration
    private let pauseAfter: Duration
    private let lossPolicy: DataLossPolicy
    private let livenessTimeout: Duration
    /// For each assigned partition of the events topic, the offset the next record should have.
    private var expected: [StreamPartition: Int64] = [:]
    /// Set when a data loss stopped the poller under ``DataLossPolicy/fail``.
    private var halted = false
    private var nextHealthCheck = ContinuousClock.now
    private var errorsSeen = 0
    /// Assigned partitions, and those whose end was reached since their last record.
    private var assigned: Set<StreamPartition> = []
    private var atEnd: Set<StreamPartition> = []
    private let caughtUp: CaughtUpSignal
    /// Called once when records were lost under ``DataLossPolicy/fail``.
    private let onDataLoss: (@Sendable (DataLossError) -> Void)?
    private let stopRequested = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)
    private var held: [IngestItem] = []
    private var paused = false
    /// The partitions the last pause covered.
    private var pausedPartitions: Set<StreamPartition> = []
    /// How far (event time) an events partition may run ahead of an unfinished catalog
    /// partition; nil: no limit.
    private let catalogLead: Duration?
    /// Event time of the latest record read from each assigned partition.
    private var eventTimeMs: [StreamPartition: Int64] = [:]
    /// Events partitions paused because they ran ahead of the catalog.
    private var aheadOfCatalog: Set<StreamPartition> = []
    /// The event time beyond which an events partition is ahead of the catalog (nil: no
    /// assigned catalog partition holds unread records), and whether it must be recomputed:
    /// set when a catalog record, a partition end or an assignment change moved the catalog's
    /// position, so an events record costs one comparison.
    private var catalogBoundMs: Int64?
    private var catalogBoundStale = true
    /// Records of those partitions that arrived anyway (fetched before the pause took effect),
    /// kept in order until the catalog catches up.
    private var heldAhead: [StreamPartition: [IngestItem]] = [:]
    private let logger: Logger
    private let badInputLog: RateLimitedLogger
    private let metrics = IngestMetrics()

    /// Longest single wait on a full queue between checks for shutdown and a stalled trainer.
    static let waitSlice: Duration = .milliseconds(50)

    /// - Parameters:
    ///   - pauseAfter: how long the trainer may take nothing from a full queue before the
    ///     assigned partitions are paused (`ingest.pause_after_ms`).
    ///   - lossPolicy: what to do when records were skipped by an offset reset (`kafka.on_data_loss`).
    ///   - livenessTimeout: how long the broker connections may stay silent before the daemon
    ///     is not ready (`kafka.liveness_timeout_ms`).
    ///   - catalogLead: how far (event time) an events partition may run ahead of a catalog
    ///     partition that still holds unread records (`ingest.max_ahead_of_catalog_ms`); nil: no limit.
    ///   - caughtUp: set while every record the broker held for every assigned partition is handed over.
    ///   - onDataLoss: called once, on the polling thread, when records were lost under ``DataLossPolicy/fail``.
    init(
        consumer: KafkaConsumer, queue: IngestQueue<IngestItem>, decoder: KafkaRecordDecoder, pollTimeout: Duration,
        pauseAfter: Duration, lossPolicy: DataLossPolicy = .continue, livenessTimeout: Duration = .seconds(10),
        catalogLead: Duration? = nil, status: DaemonStatusBoard, logger: Logger, deadLetter: (@Sendable (RejectedRecord) -> Void)?,
        caughtUp: CaughtUpSignal = CaughtUpSignal(), onDataLoss: (@Sendable (DataLossError) -> Void)? = nil
    ) {
        self.caughtUp = caughtUp
        self.catalogLead = catalogLead
        self.onDataLoss = onDataLoss
        self.lossPolicy = lossPolicy
        self.livenessTimeout = livenessTimeout
        self.consumer = consumer
        self.queue = queue
        self.decoder = decoder
        self.pollTimeout = pollTimeout
        self.pauseAfter = pauseAfter
        self.status = status
        self.logger = logger
        self.deadLetter = deadLetter
        self.badInputLog = RateLimitedLogger(
            logger: logger, limiter: LogRateLimiter(limit: 10, interval: .seconds(10)),
            suppressedCounter: metrics.logSuppressed)
    }

    func start() {
        let thread = Thread { [self] in
            Thread.current.name = "hsnn-poller"  // named from inside: Linux ignores a name set before start
            self.loop()
            self.finished.signal()
        }
        thread.name = "hsnn-poller"
        thread.start()
    }

    /// Stops polling; returns once the loop has exited (within one wait slice or poll timeout).
    /// The consumer stays open. A record the poller was waiting to hand over is dropped: its
    /// offset is not in the model state, so it is read again after a restart.
    func stop() {
        stopRequested.withLock { $0 = true }
        finished.wait()
    }

    /// Drops records of `partitions` fetched but not yet handed over (they were revoked); a
    /// paused one is paused again if it comes back while the poller is still paused.
    /// Call on the polling thread (rebalance callbacks run there).
    func forget(_ partitions: Set<StreamPartition>) {
        held.removeAll { partitions.contains($0.partition) }
        pausedPartitions.subtract(partitions)
        aheadOfCatalog.subtract(partitions)
        for partition in partitions {
            eventTimeMs[partition] = nil
            heldAhead[partition] = nil
        }
        for partition in partitions { expected[partition] = nil }
        assigned.subtract(partitions)
        atEnd.subtract(partitions)
        catalogBoundStale = true
        updateCaughtUp()
    }

    /// Newly assigned partitions and the offsets they start at: the next record of each must
    /// have that offset, or the records between were skipped (see ``DataLossPolicy``). Call on
    /// the polling thread (rebalance callbacks run there).
    func assign(_ partitions: Set<StreamPartition>, startingAt starts: [StreamPartition: Int64]) {
        assigned.formUnion(partitions)
        atEnd.subtract(partitions)
        for (partition, offset) in starts where partition.topic != decoder.catalogTopic {
            expected[partition] = offset
        }
        catalogBoundStale = true
        updateCaughtUp()
        alignWithCatalog()
    }

    private func updateCaughtUp() {
        caughtUp.set(!assigned.isEmpty && held.isEmpty && heldAhead.isEmpty && !paused && assigned.isSubset(of: atEnd))
    }

    private var isStopRequested: Bool { stopRequested.withLock { $0 } }

    private func loop() {
        status.modify { $0.consuming = true }
        defer { status.modify { $0.consuming = false } }
        while !isStopRequested {
            if ContinuousClock.now >= nextHealthCheck { checkHealth() }
            if halted {
                Thread.sleep(forTimeInterval: 0.05)
                continue
            }
            if paused {
                flushHeld()
                if held.isEmpty, queue.hasRoom { setPaused(false) }
            } else if !held.isEmpty {
                // After a pause failed, or records held while their partition ran ahead of the
                // catalog: hand them over first, waiting as for a new one, so the hold grows by
                // at most one poll per stall.
                handOverHeld()
            }
            let item: IngestItem??
            do {
                item = try consumer.poll(timeout: paused ? min(pollTimeout, .milliseconds(100)) : pollTimeout) { view in
                    self.ingest(view)
                }
            } catch {
                metrics.pollErrors.increment()
                badInputLog.warning(key: "poll", "polling failed; retrying", metadata: ["error": "\(error)"])
                Thread.sleep(forTimeInterval: 0.1)
                continue
            }
            guard let polled = item else {
                let ends = consumer.takePartitionEnds()
                if !ends.isEmpty {
                    atEnd.formUnion(ends.map { StreamPartition(topic: $0.topic, partition: $0.partition) })
                    catalogBoundStale = true
                    updateCaughtUp()
                    alignWithCatalog()
                    releaseCaughtUp()
                }
                continue
            }
            metrics.records.increment()
            guard let item = polled else { continue }
            if case .event(let event) = item.payload {
                eventTimeMs[item.partition] = max(eventTimeMs[item.partition] ?? .min, event.timestampMs)
                if item.partition.topic == decoder.catalogTopic { catalogBoundStale = true }
            }
            if catalogLead != nil, catalogBoundStale || isAheadOfCatalog(item.partition) != aheadOfCatalog.contains(item.partition) {
                alignWithCatalog()
            }
            if aheadOfCatalog.contains(item.partition) || heldAhead[item.partition] != nil {
                heldAhead[item.partition, default: []].append(item)
                continue
            }
            handOver(item)
            // After the catalog record that let them through.
            releaseCaughtUp()
        }
    }

    /// Hands a polled record to the trainer, or holds it behind the held ones.
    private func handOver(_ item: IngestItem) {
        // Records of partitions that are not paused (assigned while paused) queue
        // behind the held ones, so each partition's records stay in order.
        if paused || !held.isEmpty {
            held.append(item)
            // A partition assigned while paused is not paused yet.
            if paused, !pausedPartitions.contains(item.partition) { setPaused(true) }
            return
        }
        if queue.offer(item) { return }
        if offerWaiting(item) == .stalled {
            held.append(item)
            setPaused(true)
        }
    }

    /// Moves what partitions no longer ahead of the catalog delivered while paused to the
    /// held records, in order, to be handed over next.
    private func releaseCaughtUp() {
        guard !heldAhead.isEmpty else { return }
        for partition in heldAhead.keys.sorted(by: { $0.description < $1.description }) where !aheadOfCatalog.contains(partition) {
            held.append(contentsOf: heldAhead.removeValue(forKey: partition) ?? [])
        }
        updateCaughtUp()
    }

    /// Offers `item` to the full queue, waiting while the trainer works through it; records
    /// the time spent waiting. `.stalled` and `.cancelled` leave the item with the caller.
    private func offerWaiting(_ item: IngestItem) -> IngestQueue<IngestItem>.OfferOutcome {
        let start = ContinuousClock.now
        let outcome = queue.offer(item, stallLimit: pauseAfter, slice: Self.waitSlice) { isStopRequested }
        let waited = start.duration(to: .now)
        let seconds = waited.inSeconds
        metrics.blockedSeconds.increment(by: seconds)
        status.modify { $0.ingestBlockedSeconds += seconds }
        if outcome == .stalled {
            logger.info("the trainer took nothing from the full ingest queue for ingest.pause_after_ms; pausing partitions",
                        metadata: ["ingest.queued": "\(queue.count)"])
        }
        return outcome
    }

    /// Hands the held records over in order, waiting on the full queue; pauses on a stall.
    private func handOverHeld() {
        while let first = held.first {
            let outcome = queue.offer(first) ? .accepted : offerWaiting(first)
            switch outcome {
            case .accepted:
                held.removeFirst()
            case .stalled:
                setPaused(true)
                return
            case .closed, .cancelled:
                return
            }
        }
    }

    /// Pauses every assigned partition, or resumes the ones it paused that are still assigned.
    /// Pausing again while paused pauses only the partitions assigned since (each partition is
    /// paused and resumed once: librdkafka restarts fetching from the application's position on
    /// every pause and resume), without counting a new pause.
    private func setPaused(_ pause: Bool) {
        do {
            let assignment = try consumer.assignment()
            let partitions = assignment.map { StreamPartition(topic: $0.topic, partition: $0.partition) }
            if pause {
                let newlyPaused = zip(assignment, partitions).filter { !pausedPartitions.contains($0.1) }
                let toPause = newlyPaused.filter { !aheadOfCatalog.contains($0.1) }
                if !toPause.isEmpty { try consumer.pause(toPause.map(\.0)) }
                pausedPartitions.formUnion(newlyPaused.map(\.1))
            } else {
                // Partitions ahead of the catalog stay paused until it catches up.
                let resumed = zip(assignment, partitions).filter { pausedPartitions.contains($0.1) && !aheadOfCatalog.contains($0.1) }
                if !resumed.isEmpty { try consumer.resume(resumed.map(\.0)) }
                pausedPartitions = []
            }
            let started = pause && !paused
            paused = pause
            updateCaughtUp()
            status.modify {
                $0.pausedForBackpressure = pause
                if started { $0.backpressurePauses += 1 }
            }
            if started { metrics.pauses.increment() }
            logger.debug(pause ? "paused partitions" : "resumed partitions",
                         metadata: ["ingest.queued": "\(queue.count)", "ingest.held": "\(held.count)"])
        } catch {
            logger.warning("could not \(pause ? "pause" : "resume") partitions", metadata: ["error": "\(error)"])
        }
    }

    /// Pauses the events partitions that ran more than ``catalogLead`` ahead (event time) of the
    /// slowest assigned catalog partition still holding unread records, and resumes those the
    /// catalog caught up with (or that lost their reason: the catalog reached its end or left
    /// the assignment). A partition paused for backpressure too stays paused until both end.
    private func alignWithCatalog() {
        guard catalogLead != nil else { return }
        if catalogBoundStale { updateCatalogBound() }
        let ahead = assigned.filter(isAheadOfCatalog)
        guard ahead != aheadOfCatalog else { return }
        do {
            let assignment = try consumer.assignment()
            func handles(_ set: Set<StreamPartition>) -> [KafkaTopicPartition] {
                assignment.filter { set.contains(StreamPartition(topic: $0.topic, partition: $0.partition)) }
            }
            let toPause = ahead.subtracting(aheadOfCatalog).subtracting(pausedPartitions)
            let toResume = aheadOfCatalog.subtracting(ahead).subtracting(pausedPartitions)
            if !toPause.isEmpty { try consumer.pause(handles(toPause)) }
            if !toResume.isEmpty { try consumer.resume(handles(toResume)) }
            if !toPause.isEmpty { metrics.catalogPauses.increment(by: toPause.count) }
            aheadOfCatalog = ahead
            status.modify { $0.aheadOfCatalog = ahead.map(\.description).sorted() }
            logger.debug("aligned events with the catalog", metadata: [
                "ingest.ahead_of_catalog": "\(ahead.map(\.description).sorted())",
            ])
        } catch {
            logger.warning("could not pause or resume partitions to keep events behind the catalog", metadata: ["error": "\(error)"])
        }
    }

    /// Recomputes ``catalogBoundMs`` from the slowest assigned catalog partition that holds
    /// unread records.
    private func updateCatalogBound() {
        catalogBoundStale = false
        catalogBoundMs = nil
        guard let catalogLead else { return }
        let unfinished = assigned.filter { $0.topic == decoder.catalogTopic && !atEnd.contains($0) }
        guard !unfinished.isEmpty else { return }
        // A catalog partition not read from yet counts as behind every event.
        let catalogTime = unfinished.map { eventTimeMs[$0] ?? .min }.min()!
        catalogBoundMs = catalogTime.addingReportingOverflow(catalogLead.inMilliseconds).partialValue
    }

    /// Whether events partition `partition` ran beyond ``catalogBoundMs`` (as last computed).
    private func isAheadOfCatalog(_ partition: StreamPartition) -> Bool {
        guard let bound = catalogBoundMs, partition.topic != decoder.catalogTopic, let time = eventTimeMs[partition] else { return false }
        return time > bound
    }

    private func flushHeld() {
        var handed = 0
        for item in held {
            guard queue.offer(item) else { break }
            handed += 1
        }
        held.removeFirst(handed)
    }

    /// Updates readiness from the consumer's statistics (a broker connection up and heard from
    /// within the liveness timeout) and counts the errors librdkafka reported.
    private func checkHealth() {
        nextHealthCheck = ContinuousClock.now + .milliseconds(500)
        let errors = consumer.errors
        if errors.count > errorsSeen {
            metrics.pollErrors.increment(by: errors.count - errorsSeen)
            errorsSeen = errors.count
        }
        let connection = Self.connectionState(consumer.statistics, livenessTimeout: livenessTimeout, now: Date())
        status.modify {
            $0.pollErrors = Int64(errors.count)
            $0.lastPollError = errors.latest.map { "\($0.name): \($0.message)" }
            if $0.kafkaConnected != connection.connected {
                if connection.connected {
                    logger.info("Kafka connection is live", metadata: ["kafka.connection": "\(connection.reason)"])
                } else if $0.kafkaConnection != "not connected yet" {
                    logger.warning("Kafka connection lost; not ready", metadata: ["kafka.connection": "\(connection.reason)"])
                }
            }
            $0.kafkaConnected = connection.connected
            $0.kafkaConnection = connection.reason
        }
    }

    /// Whether librdkafka's latest statistics show a live broker connection, in words.
    static func connectionState(_ statistics: KafkaConsumerStatistics?, livenessTimeout: Duration, now: Date)
        -> (connected: Bool, reason: String) {
        guard let statistics else { return (false, "not connected yet") }
        let timeout = livenessTimeout.inSeconds
        let age = now.timeIntervalSince1970 - Double(statistics.time)
        if age > timeout + 2 { return (false, "no statistics from librdkafka for \(Int(age)) s") }
        if statistics.brokersUp == 0 {
            return (false, "no broker connection up (\(statistics.brokersKnown) known)")
        }
        guard let idle = statistics.brokerReceiveIdle else { return (false, "connected, nothing received yet") }
        if idle > livenessTimeout {
            return (false, "brokers connected but silent for \(idle.components.seconds) s (frozen or unreachable)")
        }
        return (true, "up (\(statistics.brokersUp) of \(statistics.brokersKnown) brokers)")
    }

    /// Compares a record's offset with the one its partition should deliver next; a gap means
    /// librdkafka reset the position past records the broker no longer holds.
    /// - Returns: false when the record must not be handed over (``DataLossPolicy/fail``).
    private func checkContinuity(_ partition: StreamPartition, offset: Int64) -> Bool {
        guard partition.topic != decoder.catalogTopic else { return true }
        defer { if !halted { expected[partition] = offset + 1 } }
        guard let next = expected[partition], offset > next else { return true }
        let lost = offset - next
        metrics.recordsLost(partition.topic, "\(partition.partition)").increment(by: Int(lost))
        status.modify { $0.recordsLost[partition.description, default: 0] += lost }
        logger.error("records lost: the broker no longer holds them (retention), and the consumer skipped to the oldest one it has", metadata: [
            "kafka.topic": "\(partition.topic)", "kafka.partition": "\(partition.partition)",
            "kafka.lost_from": "\(next)", "kafka.lost_to": "\(offset - 1)", "kafka.lost_records": "\(lost)",
            "kafka.on_data_loss": "\(lossPolicy.rawValue)",
        ])
        guard lossPolicy == .fail else { return true }
        halted = true
        onDataLoss?(DataLossError(partition: partition, from: next, to: offset - 1))
        return false
    }


    private func ingest(_ view: borrowing KafkaMessageView) -> IngestItem? {
        let partition = StreamPartition(topic: view.topic, partition: view.partition)
        if !atEnd.isEmpty, atEnd.remove(partition) != nil { caughtUp.set(false) }
        guard checkContinuity(partition, offset: view.offset) else { return nil }
        switch decoder.decode(view) {
        case .success(let event):
            return IngestItem(partition: partition, offset: view.offset, payload: .event(event))
        case .failure(let error):
            metrics.malformed(error.reason).increment()
            status.modify { $0.malformed[error.reason, default: 0] += 1 }
            badInputLog.warning(key: error.reason, "skipped malformed record", metadata: [
                "kafka.topic": "\(view.topic)", "kafka.partition": "\(view.partition)",
                "kafka.offset": "\(view.offset)", "ingest.reason": "\(error.reason)", "error": "\(error.message)",
            ])
            if let deadLetter {
                deadLetter(RejectedRecord(
                    partition: partition, offset: view.offset, key: view.key.map { Array($0) },
                    value: view.value.map { Array($0) }, error: error))
            }
            return IngestItem(partition: partition, offset: view.offset, payload: .malformed)
        }
    }
}
