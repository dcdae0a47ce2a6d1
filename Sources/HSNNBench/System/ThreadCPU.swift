import Foundation

/// CPU seconds of the process's live threads, summed by thread name (`/proc/self/task/*/comm`).
///
/// Threads keep the name of the thread that created them unless they set their own: OpenBLAS's
/// workers start from the main thread and carry the executable's name, shown as "main + BLAS workers".
enum ThreadCPU {
    static func byName() -> [String: Double] {
        let main = (try? String(contentsOfFile: "/proc/self/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard ticks > 0, let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return [:] }
        var totals: [String: Double] = [:]
        for task in tasks {
            guard let comm = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8),
                  let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // Fields after the parenthesised name start at field 3; utime and stime are fields 14 and 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            var name = comm.trimmingCharacters(in: .whitespacesAndNewlines)
            if name == main { name = "main + BLAS workers" }
            totals[name, default: 0] += (user + system) / ticks
        }
        return totals
    }
}
