import CRdkafka

/// Owns an `rd_kafka_topic_partition_list_t` built from Swift values; freed in `deinit`.
///
/// Not `Sendable`: created, passed to one librdkafka call and read back on one thread.
final class RDKafkaTopicPartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    /// A list of `partitions` with librdkafka's "no offset" marker.
    init(_ partitions: some Sequence<KafkaTopicPartition>) {
        pointer = rd_kafka_topic_partition_list_new(0)
        for partition in partitions {
            rd_kafka_topic_partition_list_add(pointer, partition.topic, partition.partition)
        }
    }

    /// A list of partitions with offsets.
    init(offsets: [KafkaTopicPartition: Int64]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(clamping: offsets.count))
        for (partition, offset) in offsets.sorted(by: { $0.key < $1.key }) {
            rd_kafka_topic_partition_list_add(pointer, partition.topic, partition.partition).pointee.offset = offset
        }
    }

    /// A subscription list: topics with the "unassigned" partition.
    init(topics: [String]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(clamping: topics.count))
        for topic in topics {
            rd_kafka_topic_partition_list_add(pointer, topic, RD_KAFKA_PARTITION_UA)
        }
    }

    /// Takes over a list librdkafka allocated for the caller (for example by `rd_kafka_assignment`).
    init(taking pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        self.pointer = pointer
    }

    deinit {
        rd_kafka_topic_partition_list_destroy(pointer)
    }

    var partitions: [KafkaTopicPartition] { Self.partitions(of: pointer) }

    /// Per-partition offsets; librdkafka's "invalid offset" marker (no committed offset)
    /// leaves the partition out.
    var offsets: [KafkaTopicPartition: Int64] {
        var result: [KafkaTopicPartition: Int64] = [:]
        Self.forEach(pointer) { element in
            if element.offset != Int64(RD_KAFKA_OFFSET_INVALID) {
                result[Self.topicPartition(element)] = element.offset
            }
        }
        return result
    }

    /// The partitions whose `err` field librdkafka set, with the error's name and text.
    var partitionErrors: [(partition: KafkaTopicPartition, name: String, message: String)] {
        var result: [(KafkaTopicPartition, String, String)] = []
        Self.forEach(pointer) { element in
            if element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                result.append((Self.topicPartition(element), RDKafkaClient.errorName(element.err),
                               RDKafkaClient.errorMessage(element.err)))
            }
        }
        return result
    }

    /// Reads a list librdkafka owns (for example in a rebalance callback) without taking it.
    static func partitions(of list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [KafkaTopicPartition] {
        var result: [KafkaTopicPartition] = []
        result.reserveCapacity(Int(list.pointee.cnt))
        forEach(list) { result.append(topicPartition($0)) }
        return result
    }

    /// Sets the start offset of the listed partitions that appear in `offsets`.
    /// - Returns: the offsets that matched no partition in the list.
    static func setOffsets(
        _ offsets: [KafkaTopicPartition: Int64], in list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) -> [KafkaTopicPartition: Int64] {
        var unmatched = offsets
        for partition in offsets.keys {
            if let element = rd_kafka_topic_partition_list_find(list, partition.topic, partition.partition) {
                element.pointee.offset = offsets[partition]!
                unmatched[partition] = nil
            }
        }
        return unmatched
    }

    private static func forEach(
        _ list: UnsafePointer<rd_kafka_topic_partition_list_t>, _ body: (rd_kafka_topic_partition_t) -> Void
    ) {
        guard let elements = list.pointee.elems else { return }
        for index in 0..<Int(list.pointee.cnt) {
            body(elements[index])
        }
    }

    private static func topicPartition(_ element: rd_kafka_topic_partition_t) -> KafkaTopicPartition {
        KafkaTopicPartition(topic: element.topic.map { String(cString: $0) } ?? "", partition: element.partition)
    }
}
