#if canImport(Glibc)
import Glibc
#endif

/// The instruction-set features of the CPU this process runs on, as the
/// operating system reports them.
///
/// On Linux the flags come from the first `flags` line of `/proc/cpuinfo`. The
/// kernel lists a feature there only when it also saves that register state on
/// context switches, so a listed AVX-512 flag is usable, not just present.
public struct CPUFeatures: Sendable, Equatable {
    /// Lower-case feature flags (`avx2`, `fma`, `avx512f`, ...).
    public let flags: Set<String>
    /// The CPU model string (`model name`), when the system reports one.
    public let modelName: String?

    /// Features from an explicit flag set.
    public init(flags: Set<String>, modelName: String? = nil) {
        self.flags = Set(flags.map { $0.lowercased() })
        self.modelName = modelName
    }

    /// Parses the text of `/proc/cpuinfo`: the first `flags` and `model name` lines.
    public init(cpuinfo: String) {
        var flags: Set<String> = []
        var model: String?
        for line in cpuinfo.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingBlanks()
            let value = line[line.index(after: colon)...].trimmingBlanks()
            if key == "flags", flags.isEmpty {
                flags = Set(value.split(separator: " ").map { String($0).lowercased() })
            } else if key == "model name", model == nil {
                model = String(value)
            }
            if !flags.isEmpty, model != nil { break }
        }
        self.init(flags: flags, modelName: model)
    }

    /// The features of the running CPU; empty when `/proc/cpuinfo` cannot be read
    /// (which makes every automatic kernel upgrade a no-op).
    public static func current() -> CPUFeatures {
        guard let text = readSmallFile("/proc/cpuinfo", limit: 1 << 20) else {
            return CPUFeatures(flags: [])
        }
        return CPUFeatures(cpuinfo: text)
    }

    /// The flags OpenBLAS's single-precision kernel families depend on.
    public static let relevantFlags: [String] = [
        "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl",
        "avx512_bf16", "amx_tile", "amx_bf16",
    ]

    /// The subset of ``relevantFlags`` this CPU has, in that order.
    public var relevantFlagsPresent: [String] { Self.relevantFlags.filter(flags.contains) }

    /// The widest vector level usable for single-precision GEMM.
    public var simdLevel: SIMDLevel {
        let avx512 = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        if avx512.allSatisfy(flags.contains) { return .avx512 }
        if flags.contains("avx2"), flags.contains("fma") { return .avx2 }
        if flags.contains("avx") { return .avx }
        return .sse
    }
}

extension Substring {
    fileprivate func trimmingBlanks() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text.removeLast() }
        return text
    }
}

/// Reads a small text file (procfs) with plain POSIX calls; `nil` on any error.
func readSmallFile(_ path: String, limit: Int) -> String? {
    #if canImport(Glibc)
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while bytes.count < limit {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if count == 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
    #else
    return nil
    #endif
}
