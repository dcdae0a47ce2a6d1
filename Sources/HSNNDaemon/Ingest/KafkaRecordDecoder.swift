import HSNNEvents
import HSNNKafka

/// Why a record was refused.
public struct RecordDecodeError: Error, Sendable {
    /// Stable, machine-readable reason, used as the `reason` label of `hsnn_ingest_malformed_total`.
    public var reason: String
    public var message: String

    public init(reason: String, message: String) {
        self.reason = reason
        self.message = message
    }
}

/// Decodes Kafka records of the events and catalog topics into events.
///
/// - A record with a value is one JSON event of the schema (any type, on either topic).
/// - A record with no value (a tombstone, as written to the log-compacted catalog topic)
///   deletes the item named by its key; it takes the broker timestamp as event time.
public struct KafkaRecordDecoder: Sendable {
    public var decoder: EventDecoder
    /// The topic whose tombstones delete items.
    public var catalogTopic: String

    public init(decoder: EventDecoder, catalogTopic: String) {
        self.decoder = decoder
        self.catalogTopic = catalogTopic
    }

    /// Decodes the record lent by the consumer, without copying its value.
    public func decode(_ record: borrowing KafkaMessageView) -> Result<Event, RecordDecodeError> {
        guard let value = record.value else {
            guard record.topic == catalogTopic else {
                return .failure(RecordDecodeError(reason: "tombstone_outside_catalog",
                    message: "a null-value record on \(record.topic); only the catalog topic \(catalogTopic) deletes items by tombstone"))
            }
            guard let key = record.key, key.count > 0, let itemID = String(validating: key, as: UTF8.self) else {
                return .failure(RecordDecodeError(reason: "tombstone_without_key",
                    message: "a catalog tombstone needs the item id as its UTF-8 key"))
            }
            return .success(.item(ItemEvent(op: .delete, itemID: itemID, timestampMs: max(0, record.timestampMilliseconds ?? 0))))
        }
        return decoder.decodeResult(value).mapError { RecordDecodeError(reason: $0.reason.rawValue, message: $0.description) }
    }
}
