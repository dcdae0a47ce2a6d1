import HSNNEvents
import HSNNPipeline
import Synchronization

/// One decoded record on its way from the poller to the trainer.
struct IngestItem: Sendable {
    enum Payload: Sendable {
        case event(Event)
        /// The record could not be used; it still advances the offset.
        case malformed
    }

    var partition: StreamPartition
    var offset: Int64
    var payload: Payload
}

/// Whether the poller has handed over every record the broker held for every assigned
/// partition (each one's end reached, nothing held back, not paused): the stream is quiet at
/// the broker, not only slower than the trainer.
final class CaughtUpSignal: Sendable {
    private let value = Atomic<Bool>(false)
    var isCaughtUp: Bool { value.load(ordering: .acquiring) }
    func set(_ caughtUp: Bool) { value.store(caughtUp, ordering: .releasing) }
}

/// A record that could not be decoded, copied for the dead-letter topic.
struct RejectedRecord: Sendable {
    var partition: StreamPartition
    var offset: Int64
    var key: [UInt8]?
    var value: [UInt8]?
    var error: RecordDecodeError
}
