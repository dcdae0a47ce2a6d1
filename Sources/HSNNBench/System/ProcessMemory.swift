import Foundation

/// Memory of this process, from procfs.
enum ProcessMemory {
    /// `VmRSS` of `/proc/self/status` in MiB (NaN where procfs is unavailable).
    static func residentMiB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return .nan }
        return kib / 1024
    }
}
