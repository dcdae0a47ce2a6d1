import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import HSNNSupport

/// Ends the process when a graceful stop outlasts `shutdown.grace_seconds`.
///
/// Listed last in the service group, so it is the first service told about the shutdown: it
/// then arms a timer and returns. The daemon publishes its final checkpoint within 60% of the
/// grace period (retrying); what follows (leaving the consumer group, flushing the
/// dead-letter producer, stopping the embedded broker) waits on the broker and can block for
/// librdkafka's request timeouts when the broker is frozen. When the timer fires first, the
/// process exits with the status the daemon settled on once its final state was known (0 when
/// it was saved), or 75 when the final checkpoint was still not written.
final class ShutdownDeadline: Service, Sendable {
    let grace: Duration
    let status: DaemonStatusBoard
    let logger: Logger
    private let disarmed = Atomic<Bool>(false)

    init(grace: Duration, status: DaemonStatusBoard, logger: Logger) {
        self.grace = grace
        self.status = status
        self.logger = logger
    }

    /// The process stopped in time: the timer, if armed, does nothing.
    func disarm() { disarmed.store(true, ordering: .sequentiallyConsistent) }

    /// Left for the process to exit after the deadline: a tenth of the grace period, at most 250 ms.
    static func budget(for grace: Duration) -> Duration {
        grace - min(grace / 10, .milliseconds(250))
    }

    func run() async throws {
        do { try await gracefulShutdown() } catch { return }
        let deadline = ContinuousClock.now + Self.budget(for: grace)
        let (status, logger, grace) = (status, logger, grace)
        let timer = Thread {
            let wait = ContinuousClock.now.duration(to: deadline)
            if wait > .zero {
                Thread.sleep(forTimeInterval: wait.inSeconds)
            }
            guard !self.disarmed.load(ordering: .sequentiallyConsistent) else { return }
            let progress = status.stopProgress
            let code = progress?.exitCode ?? FinalCheckpointError.exitCode
            let step = progress?.step ?? "stopping"
            if code == FinalCheckpointError.exitCode {
                logger.critical("shutdown.grace_seconds (\(grace)) elapsed while \(step); the final checkpoint was not written, so the examples trained since the previous version are trained again from Kafka after the restart; exiting now", metadata: [
                    "process.exit_code": "\(code)"])
            } else {
                logger.notice("shutdown.grace_seconds (\(grace)) elapsed while \(step); the final state is saved, exiting now without waiting for it", metadata: [
                    "process.exit_code": "\(code)"])
            }
            fflush(nil)
            _exit(code)
        }
        timer.start()
    }
}
