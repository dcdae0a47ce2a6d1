/// The final checkpoint could not be published within the shutdown grace period: the examples
/// trained since the previous version are not saved (a restart trains them again from Kafka).
/// `hsnn run` exits with ``exitCode`` so that `Restart=on-failure` and operators notice.
public struct FinalCheckpointError: Error, Sendable, CustomStringConvertible {
    /// The exit status of `hsnn run` after this failure (75, `EX_TEMPFAIL`): distinct from 1
    /// (configuration or start-up error) and from 0 (a clean stop with the state saved).
    public static let exitCode: Int32 = 75
    /// Publish attempts made.
    public var attempts: Int
    /// Examples the unsaved state had trained in total.
    public var examplesNotSaved: Int64
    /// The last attempt's error.
    public var underlying: String

    public var description: String {
        "final checkpoint failed after \(attempts) attempts (\(underlying)); the state with \(examplesNotSaved) examples trained "
            + "was not saved, and a restart resumes from the previous version and trains the rest again from Kafka. "
            + "Free space or fix permissions in checkpoint.dir"
    }
}
