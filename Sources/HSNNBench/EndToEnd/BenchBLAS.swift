import HSNNMath
import Foundation
import HSNNOps
import Logging

/// The kernel this process runs, as the report shows it.
struct BenchBLAS: Codable, Sendable {
    var core: String
    var selection: String
    var threads: Int
    /// `OPENBLAS_CORETYPE` in this process's environment: the user's, or the one kernel selection set
    /// when it re-executed the process (nil when unset).
    var coretypeEnvironment: String?

    /// Checks the kernel, sets the BLAS thread count like `hsnn run`, and describes the result.
    /// - Parameter kernel: what kernel selection found at startup (nil when it did not run).
    /// - Throws: ``BenchmarkError/kernelFailedSelfCheck`` when the kernel failed its self-check.
    static func prepare(_ configuration: Configuration, kernel: BLASKernelReport?, logger: Logger) throws -> BenchBLAS {
        if let report = kernel {
            do { try report.requireVerified() } catch {
                logger.critical("OpenBLAS failed its self-check; refusing to benchmark", metadata: ["error": "\(error)"])
                throw BenchmarkError.kernelFailedSelfCheck
            }
        }
        let threads = configuration.int("training.threads")
        let active = try BLASThreads.set(threads > 0 ? threads : BLASThreads.processorCount)
        let report = kernel
        return BenchBLAS(core: report?.activeCore ?? "unknown", selection: report?.summary ?? "kernel selection did not run",
                         threads: active, coretypeEnvironment: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"])
    }
}
