import Foundation

/// How busy the machine is, whatever runs on it.
enum MachineLoad {
    /// The 1, 5 and 15 minute load averages.
    static func read() -> [Double] {
        var loads = [Double](repeating: 0, count: 3)
        let n = getloadavg(&loads, 3)
        return n == 3 ? loads.map { ($0 * 100).rounded() / 100 } : []
    }
}
