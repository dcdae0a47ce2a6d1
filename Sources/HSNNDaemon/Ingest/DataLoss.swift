import HSNNPipeline

/// What the daemon does when records were skipped because the broker no longer held them
/// (`kafka.on_data_loss`).
public enum DataLossPolicy: String, Sendable {
    /// Log and count the loss, and train on from the oldest record still held.
    case `continue`
    /// Log and count the loss, hand nothing more to the trainer, and stop the daemon.
    case fail
}

/// Records were skipped by an offset reset and `kafka.on_data_loss` is `fail`.
public struct DataLossError: Error, Sendable, CustomStringConvertible {
    public var partition: StreamPartition
    /// First and last offset skipped.
    public var from: Int64
    public var to: Int64

    public var description: String {
        "records \(from)...\(to) of \(partition) were deleted by the broker (retention) before they were trained; "
            + "the final checkpoint holds the state before them. To accept the loss and go on, set "
            + "kafka.on_data_loss = \"continue\" (or start with --set kafka.on_data_loss=continue)"
    }
}
