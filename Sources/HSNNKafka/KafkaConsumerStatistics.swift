import Foundation

/// What librdkafka's periodic statistics (`statistics.interval.ms`) say about a consumer,
/// reduced to what metrics need: per-partition lag and prefetch queue sizes.
public struct KafkaConsumerStatistics: Sendable, Hashable {
    /// One assigned partition.
    public struct Partition: Sendable, Hashable {
        /// Messages between the committed offset and the end of the partition (high
        /// watermark, or last stable offset under `read_committed`); `nil` until both are known.
        public var consumerLag: Int64?
        /// Committed offset (next offset to read), or `nil` when the group has none yet.
        public var committedOffset: Int64?
        /// Offset of the next message `poll` returns, or `nil` before the first fetch.
        public var nextOffset: Int64?
        /// The partition's end (high watermark), or `nil` before the first fetch.
        public var highWatermark: Int64?
        /// Messages prefetched and waiting to be polled.
        public var fetchQueueMessages: Int64
        /// Bytes prefetched and waiting to be polled.
        public var fetchQueueBytes: Int64
        /// librdkafka's fetch state (`active`, `stopped` when paused, `offset-query`, ...).
        public var fetchState: String
    }

    /// When librdkafka took the snapshot, in seconds since 1970.
    public var time: Int64
    /// The assigned partitions.
    public var partitions: [KafkaTopicPartition: Partition]
    /// Brokers of the cluster with an open connection (state `UP`).
    public var brokersUp: Int
    /// Brokers of the cluster this client knows of.
    public var brokersKnown: Int
    /// The shortest time since any connected broker last sent this client something
    /// (librdkafka's `rxidle`), or `nil` when no connected broker sent anything yet. A live
    /// broker answers fetches and heartbeats within seconds; a frozen one lets this grow.
    public var brokerReceiveIdle: Duration?
    /// The consumer group's state (`up`, `wait-coord`, ...), or `nil` outside a group.
    public var groupState: String?
    /// The consumer group's join state (`steady`, `wait-join`, ...).
    public var groupJoinState: String?
    /// Rebalances this member went through.
    public var rebalanceCount: Int64

    /// Sum of ``Partition/consumerLag`` over the partitions whose lag is known.
    public var totalConsumerLag: Int64 {
        partitions.values.reduce(0) { $0 + ($1.consumerLag ?? 0) }
    }

    /// Sum of ``Partition/fetchQueueBytes``: memory held by the prefetch queue.
    public var totalFetchQueueBytes: Int64 {
        partitions.values.reduce(0) { $0 + $1.fetchQueueBytes }
    }

    /// Parses librdkafka's statistics JSON (see its STATISTICS.md); `nil` when it is not
    /// the expected shape.
    init?(json: UnsafeRawBufferPointer) {
        guard let base = json.baseAddress,
              let object = try? JSONSerialization.jsonObject(
                  with: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: json.count, deallocator: .none)),
              let root = object as? [String: Any]
        else { return nil }
        self.init(root: root)
    }

    init(root: [String: Any]) {
        time = Self.int(root["time"]) ?? 0
        var partitions: [KafkaTopicPartition: Partition] = [:]
        for (topic, topicValue) in root["topics"] as? [String: Any] ?? [:] {
            let topicPartitions = (topicValue as? [String: Any])?["partitions"] as? [String: Any] ?? [:]
            for (_, partitionValue) in topicPartitions {
                guard let fields = partitionValue as? [String: Any],
                      let id = Self.int(fields["partition"]), id >= 0,
                      fields["desired"] as? Bool == true
                else { continue }
                partitions[KafkaTopicPartition(topic: topic, partition: Int32(id))] = Partition(
                    consumerLag: Self.offset(fields["consumer_lag"]),
                    committedOffset: Self.offset(fields["committed_offset"]),
                    nextOffset: Self.offset(fields["app_offset"]),
                    highWatermark: Self.offset(fields["hi_offset"]),
                    fetchQueueMessages: Self.int(fields["fetchq_cnt"]) ?? 0,
                    fetchQueueBytes: Self.int(fields["fetchq_size"]) ?? 0,
                    fetchState: fields["fetch_state"] as? String ?? "")
            }
        }
        self.partitions = partitions
        var up = 0
        var known = 0
        var receiveIdle: Duration?
        for (_, brokerValue) in root["brokers"] as? [String: Any] ?? [:] {
            guard let broker = brokerValue as? [String: Any], Self.int(broker["nodeid"]).map({ $0 >= 0 }) == true,
                  broker["source"] as? String != "logical"
            else { continue }
            known += 1
            if broker["state"] as? String == "UP" {
                up += 1
                if let idle = Self.int(broker["rxidle"]), idle >= 0 {
                    let value = Duration.microseconds(idle)
                    receiveIdle = receiveIdle.map { min($0, value) } ?? value
                }
            }
        }
        brokerReceiveIdle = receiveIdle
        brokersUp = up
        brokersKnown = known
        let group = root["cgrp"] as? [String: Any]
        groupState = group?["state"] as? String
        groupJoinState = group?["join_state"] as? String
        rebalanceCount = Self.int(group?["rebalance_cnt"]) ?? 0
    }

    private static func int(_ value: Any?) -> Int64? {
        (value as? NSNumber)?.int64Value
    }

    /// librdkafka reports unknown offsets and lags as negative numbers.
    private static func offset(_ value: Any?) -> Int64? {
        int(value).flatMap { $0 >= 0 ? $0 : nil }
    }
}
