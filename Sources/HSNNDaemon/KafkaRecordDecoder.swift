import HSNNEvents
import HSNNStream

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

    /// Decodes `record`.
    public func decode(_ record: SourceRecord) -> Result<Event, RecordDecodeError> {
        guard let value = record.value else {
            guard record.partition.topic == catalogTopic else {
                return .failure(RecordDecodeError(reason: "tombstone_outside_catalog",
                    message: "a null-value record on \(record.partition.topic); only the catalog topic \(catalogTopic) deletes items by tombstone"))
            }
            guard let key = record.key, !key.isEmpty, let itemID = String(validating: key, as: UTF8.self) else {
                return .failure(RecordDecodeError(reason: "tombstone_without_key",
                    message: "a catalog tombstone needs the item id as its UTF-8 key"))
            }
            return .success(.item(ItemEvent(op: .delete, itemID: itemID, timestampMs: max(0, record.timestampMs))))
        }
        return value.withUnsafeBytes { bytes in
            decoder.decodeResult(bytes).mapError { RecordDecodeError(reason: $0.reason.rawValue, message: $0.description) }
        }
    }
}
