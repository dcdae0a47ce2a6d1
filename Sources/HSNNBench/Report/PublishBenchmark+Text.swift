import Foundation

extension PublishBenchmarkResult {
    /// Human-readable text (several lines, ending with a newline).
    public func renderText() -> String {
        func ms(_ s: Double) -> String { String(format: "%.1f ms", s * 1000) }
        var text = "publish benchmark in \(directory), \(runs) runs, medians\n"
        text += "  sequential write+fsync  " + String(format: "%8.1f MB/s  (%.1f MB in ", sequentialMBps, Double(sequentialBytes) / 1e6)
            + ms(median(sequentialSeconds, ifEmpty: 0)) + ")\n"
        text += "  checkpoint publish      " + String(format: "%8.1f MB/s  (%.1f MB in ", publishMBps, Double(publishBytes) / 1e6)
            + ms(median(publishSeconds, ifEmpty: 0)) + ": write " + ms(medianWriteSeconds) + ", fsync+sha256 " + ms(medianSyncSeconds)
            + ", commit " + ms(medianCommitSeconds) + ")\n"
        text += String(format: "  publish / sequential    %8.1f %%  (target >= 70 %%)\n", ratio * 100)
        text += "  snapshot copy (pause)   \(ms(medianSnapshotCopySeconds)) to copy the tensors in memory\n"
        text += "  sha256, one core        " + String(format: "%8.1f MB/s", sha256MBpsPerCore) + "  (in memory; the CPU cost a publish adds)\n"
        return text
    }

    /// Pretty-printed JSON with sorted keys and a final newline.
    /// - Throws: `EncodingError` (not expected: non-finite numbers are written as strings).
    public func renderJSON() throws -> String {
        try prettyJSON(self)
    }
}
