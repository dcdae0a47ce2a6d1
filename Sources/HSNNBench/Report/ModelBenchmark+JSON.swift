import Foundation

extension ModelBenchmark.TrainingAgainstPeak {
    /// One JSON object on one line (`kind`, `examples_per_second`, `share_of_peak`, ...).
    public var jsonLine: String {
        let result = training
        return String(format: """
            {"kind":"%@","examples":%d,"examples_per_second":%.0f,"rows_per_example":%.3f,"flops_per_example":%.0f,"achieved_gflops":%.2f,\
            "sgemm_peak_gflops":%.1f,"share_of_peak":%.3f,"blas_threads":%d,"blas_core":"%@"}
            """, result.kind, result.examples, result.examplesPerSecond, result.rowsPerExample, result.flopsPerExample, result.achievedGflops,
            peakGflops, shareOfPeak, result.blasThreads, result.blasCore)
    }
}

extension ModelBenchmark.RetrievalResult {
    /// One JSON object on one line, keys sorted.
    /// - Throws: `EncodingError` (not expected).
    public func jsonLine() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
